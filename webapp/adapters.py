"""One adapter per task: the only code that knows a run directory's layout and signatures.

Each adapter loads ``<runs>/<task>/saved_model`` (and, where it needs one,
another file the runner writes next to it) and answers plain Python values
that the app turns into JSON. A SavedModel whose signatures change touches
its adapter and nothing else. An adapter that cannot load its run raises
:class:`RunUnavailable` naming the command that makes the run.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

TASKS = ("date_translation", "sentiment", "trigger_word", "text_generation", "word_embeddings",
         "speech_recognition")
TITLES = {
    "date_translation": "Dates",
    "sentiment": "Sentiment",
    "trigger_word": "Trigger word",
    "text_generation": "Text generation",
    "word_embeddings": "Word embeddings",
    "speech_recognition": "Speech",
}


class RunUnavailable(Exception):
    """A task's run is missing or cannot be loaded; the message says which command makes it."""


class BadInput(ValueError):
    """A request the model cannot answer (the app maps it to HTTP 400 with this message)."""


def make_command(task, run_dir):
    return f"python -m tasks.{task} demo --out {run_dir}   (or `make demo` for every task)"


def _saved_model_dir(task, run_dir):
    export_dir = Path(run_dir) / "saved_model"
    if not (export_dir / "saved_model.pb").is_file():
        raise RunUnavailable(f"No SavedModel at {export_dir}. Make it with: {make_command(task, run_dir)}")
    return export_dir


def _load(task, run_dir):
    export_dir = _saved_model_dir(task, run_dir)  # before importing TensorFlow: a missing run costs nothing
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(export_dir))
    except Exception as error:  # A broken or half-written export: say so and how to remake it.
        raise RunUnavailable(f"The SavedModel at {export_dir} does not load ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}). Remake it with: "
                             f"{make_command(task, run_dir)}") from None


def _signature(task, run_dir, loaded, name):
    if name not in loaded.signatures:
        raise RunUnavailable(f"The SavedModel in {run_dir} has no {name!r} signature (it has "
                             f"{', '.join(sorted(loaded.signatures))}). Remake it with: "
                             f"{make_command(task, run_dir)}")
    return loaded.signatures[name]


def _run_config(run_dir):
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------
# Dates

ORDERS = ("MDY", "DMY", "YMD")


def check_order(order):
    """The date model's reading order of ambiguous numeric dates, upper-cased; a clear error otherwise."""
    normalized = str(order).strip().upper()
    if normalized not in ORDERS:
        raise BadInput(f"order must be one of {', '.join(ORDERS)}; received {order!r}")
    return normalized


class DateAdapter:
    task = "date_translation"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.translate_fn = _signature(self.task, run_dir, self.loaded, "with_order")
        config = _run_config(run_dir)
        self.sequence_length = int(config.get("sequence_length", 32))
        # The rule the SavedModel answers by (runs made before it have none), so that the heat map explains
        # the answer the API returns.
        limit = config.get("not_a_date_above")
        self.not_a_date_above = limit if limit is not None and limit < 1 else None
        self.attention_note = ""
        self.model = None
        # The SavedModel answers dates and confidences only; the attention map comes from
        # the date model's own attention_weights, on the Keras model saved next to it.
        keras_file = self.run_dir / "model.keras"
        if keras_file.is_file():
            try:
                import tensorflow as tf

                import layers  # noqa: F401  (registers the project's layers for loading)
                from tasks.date_translation.model import load_model

                self.model = load_model(keras_file)
                self._attention = tf.function(self.model.attention_weights, reduce_retracing=True)
            except Exception as error:
                self.attention_note = f"attention unavailable: {keras_file} does not load ({type(error).__name__})"
        else:
            self.attention_note = f"attention unavailable: no {keras_file} next to the SavedModel"

    def translate(self, texts, orders=None):
        """Texts (and their orders, MDY by default) -> [(iso, confidence)], one SavedModel call for all."""
        import tensorflow as tf

        orders = list(orders) if orders is not None else ["MDY"] * len(texts)
        outputs = self.translate_fn(text=tf.constant([t.encode("utf-8") for t in texts], tf.string),
                                    order=tf.constant(orders, tf.string))
        isos = [d.decode("utf-8", "replace") for d in outputs["iso"].numpy()]
        return list(zip(isos, [float(c) for c in outputs["confidence"].numpy()]))

    def attention(self, text, order):
        """(order token and input characters, output characters, weights (19, 1 + len(input))) or None."""
        if self.model is None:
            return None
        from tasks.date_translation import data as date_data

        shown = date_data.normalized(text)[: self.sequence_length - 1]
        if not shown:
            return None
        ids, _ = date_data.encode_inputs([text], [order], self.sequence_length)
        ids = ids[:, : len(shown) + 1]
        output_ids, _ = self.model.decode(ids, 1, not_a_date_above=self.not_a_date_above)
        weights = np.asarray(self._attention(ids, output_ids))[0]  # (19, 1 + len(shown))
        answer = "".join(date_data.OUTPUT_CHARACTERS[i] for i in np.asarray(output_ids)[0])
        return {"input": [order] + list(shown), "output": list(answer), "weights": np.round(weights, 4).tolist()}

# ---------------------------------------------------------------------------
# Sentiment

class SentimentAdapter:
    task = "sentiment"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.classify_fn = _signature(self.task, run_dir, self.loaded, "serving_default")
        names_file = _saved_model_dir(self.task, run_dir) / "assets.extra" / "class_names.json"
        self.class_names = json.loads(names_file.read_text()) if names_file.is_file() else None

    def classify(self, texts):
        """Texts -> probabilities (n, classes) float32 in one SavedModel call."""
        import tensorflow as tf

        outputs = self.classify_fn(text=tf.constant([t.encode("utf-8") for t in texts], tf.string))
        probabilities = outputs["probabilities"].numpy()
        if self.class_names is None:
            self.class_names = [str(i) for i in range(probabilities.shape[1])]
        return probabilities

    @staticmethod
    def occlusion_variants(text, max_words=200):
        """The text's words (the first ``max_words``) and the texts with one of them left out."""
        words = text.split()[:max_words]
        return words, [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]

    @staticmethod
    def word_pushes(words, probabilities, occluded):
        """Occlusion: for each word, P(label | text) - P(label | text without that word).

        The SavedModel has no explanation signature, so the pushes come from the
        SavedModel itself: positive values pushed towards the predicted label,
        negative ones away from it. ``occluded`` holds the probabilities of
        :meth:`occlusion_variants`' texts (the server batches them with other requests).
        """
        label = int(np.argmax(probabilities))
        return [{"word": word, "push": round(float(probabilities[label] - row[label]), 4)}
                for word, row in zip(words, np.asarray(occluded).reshape(len(words), -1))]


# ---------------------------------------------------------------------------
# Trigger word

SAMPLE_RATE = 16000


def read_audio(data: bytes, max_seconds: float):
    """Bytes of an audio file (WAV, FLAC, OGG) -> float32 mono at 16 kHz. BadInput otherwise."""
    import soundfile

    try:
        waveform, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:
        raise BadInput("The upload is not an audio file this server reads (WAV, FLAC or OGG).") from None
    if waveform.shape[0] == 0:
        raise BadInput("The audio file holds no samples.")
    if waveform.shape[0] / rate > max_seconds:
        raise BadInput(f"The audio is {waveform.shape[0] / rate:.1f} s long; the limit is {max_seconds:.0f} s.")
    waveform = waveform.mean(axis=1)
    if rate != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly

        common = gcd(int(rate), SAMPLE_RATE)
        waveform = resample_poly(waveform, SAMPLE_RATE // common, int(rate) // common)
    return np.clip(np.nan_to_num(waveform), -1.0, 1.0).astype(np.float32)


def _mel_filters(bins, fft_length):
    """(fft_length // 2 + 1, bins) triangular HTK mel filters from 20 Hz to 8 kHz."""
    mel = lambda hertz: 2595.0 * np.log10(1.0 + hertz / 700.0)  # noqa: E731
    edges = 700.0 * (10 ** (np.linspace(mel(20.0), mel(SAMPLE_RATE / 2), bins + 2) / 2595.0) - 1.0)
    frequencies = np.linspace(0, SAMPLE_RATE / 2, fft_length // 2 + 1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (frequencies[:, None] - lower) / (centre - lower)
    falling = (upper - frequencies[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_spectrogram(waveform, bins=40, max_frames=500):
    """(frames, bins) log10 mel power for drawing: 25 ms windows every 10 ms, max-pooled to <= max_frames rows.

    Returns the rows and the seconds each row covers. Plain numpy: it is a picture, not a model input.
    """
    window, hop, fft_length = 400, 160, 512
    if len(waveform) < window:
        return np.zeros((1, bins), np.float32), len(waveform) / SAMPLE_RATE
    count = 1 + (len(waveform) - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(waveform, window)[::hop][:count] * np.hanning(window)
    power = np.abs(np.fft.rfft(frames, fft_length)) ** 2  # (frames, fft_length // 2 + 1)
    log_power = np.log10(power @ _mel_filters(bins, fft_length) + 1e-10)  # (frames, bins)
    pool = max(1, math.ceil(len(log_power) / max_frames))
    if pool > 1:
        usable = len(log_power) // pool * pool
        log_power = log_power[:usable].reshape(-1, pool, bins).max(axis=1)
    return log_power.astype(np.float32), hop * pool / SAMPLE_RATE


class TriggerWordAdapter:
    task = "trigger_word"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.serve_fn = _signature(self.task, run_dir, self.loaded, "serving_default")
        self.stream_fn = self.loaded.signatures["stream_step"] if "stream_step" in self.loaded.signatures else None
        from tasks.trigger_word.evaluate import DecisionRule

        def value(name, default):
            variable = getattr(self.loaded, name, None)
            return variable.numpy().item() if variable is not None else default

        self.frame_seconds = float(value("frame_seconds", 0.04))
        self.frame_samples = int(value("frame_samples", 640))
        self.rule = DecisionRule(float(value("threshold", 0.5)), float(value("refractory_seconds", 0.5)),
                                 int(value("smoothing_frames", 1)), int(value("min_frames", 1)))

    def detect(self, waveform):
        """The whole clip: per-frame probabilities and detection times (s)."""
        outputs = self.serve_fn(waveform=np.asarray(waveform, np.float32)[None])
        probabilities = outputs["probabilities"].numpy()[0]
        detections = [float(t) for t in outputs["detections"].numpy()[0] if t >= 0]
        return probabilities, detections

    def new_stream(self):
        if self.stream_fn is None:
            raise BadInput("This trigger-word run has no streaming model (train it with --model streaming).")
        return TriggerWordStream(self)


class TriggerWordStream:
    """Carried state of one live stream: model states, the detector's state, samples seen."""

    def __init__(self, adapter):
        from tasks.trigger_word.evaluate import initial_detection_state
        from tasks.trigger_word.export import initial_states

        self.adapter = adapter
        self.states = initial_states(adapter.loaded)
        self.detector_state = initial_detection_state(adapter.rule.smoothing_frames, adapter.rule.min_frames)
        self.pending = np.zeros(0, np.float32)
        self.frames_done = 0

    def feed(self, samples):
        """Appends samples; runs every whole frame. Returns (probabilities, new detection times)."""
        from tasks.trigger_word.evaluate import detect_events

        adapter = self.adapter
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        frames = len(self.pending) // adapter.frame_samples
        if frames == 0:
            return np.zeros(0, np.float32), []
        chunk, self.pending = (self.pending[: frames * adapter.frame_samples],
                               self.pending[frames * adapter.frame_samples:])
        outputs = adapter.stream_fn(chunk=chunk[None], **self.states)
        self.states = {name: outputs[name].numpy() for name in self.states}
        probabilities = outputs["probabilities"].numpy()[0]
        times, self.detector_state = detect_events(
            probabilities, adapter.rule.threshold, adapter.rule.refractory_seconds, adapter.frame_seconds,
            start_frame=self.frames_done, state=self.detector_state,
            smoothing_frames=adapter.rule.smoothing_frames, min_frames=adapter.rule.min_frames)
        self.frames_done += frames
        return probabilities, [float(t) for t in np.asarray(times).reshape(-1)]


# ---------------------------------------------------------------------------
# Text generation

class TextGenerationAdapter:
    task = "text_generation"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.generate_fn = _signature(self.task, run_dir, self.loaded, "generate")

    def generate(self, prefix, temperature, top_k, top_p, num_samples, seed):
        import tensorflow as tf

        outputs = self.generate_fn(
            prompt=tf.constant([prefix.encode("utf-8")] * num_samples, tf.string),
            temperature=tf.constant(temperature, tf.float32), top_k=tf.constant(top_k, tf.int32),
            top_p=tf.constant(top_p, tf.float32), seed=tf.constant([seed, 0], tf.int64))
        return [t.decode("utf-8", "replace") for t in outputs["text"].numpy()]


# ---------------------------------------------------------------------------
# Word embeddings

class WordEmbeddingAdapter:
    task = "word_embeddings"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.lookup_fn = _signature(self.task, run_dir, self.loaded, "serving_default")
        # Analogies search the whole vocabulary for a vector no word owns, which the signature
        # cannot do: read the unit-normalised matrix and the words the module stores.
        try:
            self.words = [w.decode("utf-8") for w in self.loaded.words.numpy()]
            self.unit = self.loaded.unit.numpy()
        except AttributeError:
            raise RunUnavailable(f"The SavedModel in {run_dir} stores no word matrix. Remake it with: "
                                 f"{make_command(self.task, run_dir)}") from None
        self.index = {w: i for i, w in enumerate(self.words)}

    def lookup(self, words):
        """Words -> (neighbours, similarities, vectors, known) from the signature."""
        import tensorflow as tf

        out = self.lookup_fn(words=tf.constant([w.encode("utf-8") for w in words], tf.string))
        vectors = out["vectors"].numpy()
        neighbours = [[w.decode("utf-8") for w in row] for row in out["neighbours"].numpy()]
        known = [w.lower() in self.index for w in words]
        return neighbours, out["similarities"].numpy(), vectors, known

    def analogy(self, a, b, c, count=10):
        """b - a + c (a : b :: c : ?), the words of the query excluded (3CosAdd)."""
        rows = []
        for word in (a, b, c):
            if word.lower() not in self.index:
                raise BadInput(f"{word!r} is not in the vocabulary ({len(self.words)} words)")
            rows.append(self.index[word.lower()])
        target = self.unit[rows[1]] - self.unit[rows[0]] + self.unit[rows[2]]
        scores = self.unit @ (target / (np.linalg.norm(target) or 1.0))
        scores[rows] = -np.inf
        best = np.argsort(-scores)[:count]
        return [(self.words[i], float(scores[i])) for i in best]

    def project(self, words):
        """2-D PCA coordinates of the known words' vectors (unknown ones reported apart)."""
        _, _, vectors, known = self.lookup(words)
        chosen = [(w, v) for w, v, k in zip(words, vectors, known) if k]
        if len(chosen) < 2:
            raise BadInput("Give at least two words that are in the vocabulary.")
        matrix = np.stack([v for _, v in chosen]).astype(np.float64)
        centred = matrix - matrix.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        points = centred @ components[:2].T
        if points.shape[1] < 2:
            points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
        return [{"word": w, "x": float(x), "y": float(y)} for (w, _), (x, y) in zip(chosen, points)], \
            [w for w, k in zip(words, known) if not k]


# ---------------------------------------------------------------------------
# Speech recognition

# The page's decoder names -> the SavedModel's signatures; "default" is the one the run chose on validation.
SPEECH_DECODERS = {"default": "serving_default", "greedy": "greedy", "beam": "beam", "beam_lexicon": "beam_lexicon"}
OPTIONAL_SPEECH_DECODERS = ("beam_lexicon",)  # exported by runs with a language model only


class SpeechRecognitionAdapter:
    task = "speech_recognition"

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.loaded = _load(self.task, run_dir)
        self.decode_fns = {name: _signature(self.task, run_dir, self.loaded, signature)
                           for name, signature in SPEECH_DECODERS.items()
                           if name not in OPTIONAL_SPEECH_DECODERS or signature in self.loaded.signatures}
        # Exports before the variable existed say only that it is the run's choice.
        variable = getattr(self.loaded, "serving_decoder", None)
        self.serving_decoder = variable.numpy().decode("utf-8") if variable is not None else "the run's choice"
        self.posteriors_fn = _signature(self.task, run_dir, self.loaded, "posteriors")
        try:
            self.frame_seconds = float(self.loaded.frame_seconds.numpy())
            alphabet = self.loaded.alphabet.numpy().decode("utf-8")
        except AttributeError:
            raise RunUnavailable(f"The SavedModel in {run_dir} stores no frame_seconds or alphabet. Remake it "
                                 f"with: {make_command(self.task, run_dir)}") from None
        self.classes = ["blank"] + list(alphabet)  # class 0 is the CTC blank, class i is alphabet[i - 1]

    def check_decoder(self, decoder):
        """The decoder's name, lower-cased; a clear error for one this run does not have."""
        normalized = str(decoder).strip().lower()
        if normalized not in self.decode_fns:
            why = (" (beam_lexicon needs a run trained with a language model)"
                   if normalized == "beam_lexicon" else "")
            raise BadInput(f"decoder must be one of {', '.join(self.decode_fns)}{why}; received {decoder!r}")
        return normalized

    def transcribe(self, waveform, decoder="default"):
        """A clip -> (text, confidence, posteriors (frames, classes)).

        Clips longer than the recogniser's pieces are cut at pauses as the
        ``transcribe`` command cuts them; the texts are joined and the
        confidence is the pieces' mean weighted by their text lengths.
        """
        from tasks.speech_recognition.transcribe import pieces

        texts, confidences, weights, posteriors = [], [], [], []
        for piece in pieces([np.asarray(waveform, np.float32)]):
            outputs = self.decode_fns[decoder](waveform=piece)
            text = outputs["text"].numpy().decode("utf-8", "replace")
            if text:
                texts.append(text)
                confidences.append(float(outputs["confidence"]))
                weights.append(len(text))
            posteriors.append(np.exp(self.posteriors_fn(waveform=piece)["log_probs"].numpy()))
        confidence = float(np.average(confidences, weights=weights)) if texts else 0.0
        posteriors = np.concatenate(posteriors) if posteriors else np.zeros((0, len(self.classes)), np.float32)
        return " ".join(texts), confidence, posteriors


ADAPTERS = {
    "date_translation": DateAdapter,
    "sentiment": SentimentAdapter,
    "trigger_word": TriggerWordAdapter,
    "text_generation": TextGenerationAdapter,
    "word_embeddings": WordEmbeddingAdapter,
    "speech_recognition": SpeechRecognitionAdapter,
}


def load_all(runs_dir, only=None):
    """Task -> adapter, or -> the reason (str) it is unavailable. Never raises for one bad run."""
    loaded = {}
    for task in only or TASKS:
        run_dir = Path(runs_dir) / task
        try:
            loaded[task] = ADAPTERS[task](run_dir)
        except RunUnavailable as error:
            loaded[task] = str(error)
        except Exception as error:  # Anything else a run can do wrong still disables one page only.
            loaded[task] = (f"The run in {run_dir} does not load ({type(error).__name__}: {error}). "
                            f"Remake it with: {make_command(task, run_dir)}")
    return loaded
