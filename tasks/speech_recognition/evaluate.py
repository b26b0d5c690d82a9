"""Evaluation of a speech recogniser: word error rate, sentence accuracy, per category.

WER is ``jiwer``'s (the reference implementation: word-level Levenshtein
distance, substitutions + deletions + insertions over reference words, summed
over the corpus before dividing). Sentence accuracy is the share of
utterances transcribed exactly. Both are reported for greedy decoding, beam
search and beam search with the word n-gram language model, on the same
clips, and per category of the grammar (digits, numbers, dates, times,
mixtures).

Transcription goes through the model's own :meth:`encode` and the graph
decoders of ``ctc_decoding.py``, batched by length so that padding costs
little.
"""

from __future__ import annotations

import numpy as np

from tasks.speech_recognition.config import DECODERS


def word_error_rate(references, hypotheses):
    """Corpus WER by ``jiwer``; 0 for an empty corpus."""
    import jiwer

    references, hypotheses = list(references), list(hypotheses)
    if not references:
        return 0.0
    # jiwer refuses empty references; an utterance with nothing to say counts its inserted words.
    pairs = [(r, h) for r, h in zip(references, hypotheses) if r.strip()]
    insertions = sum(len(h.split()) for r, h in zip(references, hypotheses) if not r.strip())
    if not pairs:
        return float(insertions > 0)
    output = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    errors = output.substitutions + output.deletions + output.insertions + insertions
    return errors / sum(len(r.split()) for r, _ in pairs)


def sentence_accuracy(references, hypotheses):
    references, hypotheses = list(references), list(hypotheses)
    return float(np.mean([r == h for r, h in zip(references, hypotheses)])) if references else 0.0


class Transcriber:
    """Batched transcription of waveforms with a model's :meth:`encode` and a graph decoder."""

    def __init__(self, model, beam_width=8, lm=None, lm_weight=0.5, word_bonus=1.0, batch_size=32):
        import tensorflow as tf

        from tasks.speech_recognition.ctc_decoding import Lexicon, decode

        self.batch_size = batch_size
        lexicon = Lexicon(lm.words()) if hasattr(lm, "words") else None
        lm = lm.scorer() if hasattr(lm, "scorer") else lm  # lookup tables built once, not per trace
        specs = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)]

        def make(decoder):
            def transcribe(waveform, num_samples):
                log_probs, lengths = model.encode(waveform, num_samples)
                return decode(log_probs, lengths, decoder, beam_width=beam_width, lm=lm, lm_weight=lm_weight,
                              word_bonus=word_bonus, lexicon=lexicon)
            return tf.function(transcribe, input_signature=specs, reduce_retracing=True)

        available = {"greedy", "beam"} | ({"beam_lm"} if lm is not None else set()) | (
            {"beam_lm_lexicon"} if lexicon is not None else set())
        self.functions = {decoder: make(decoder) for decoder in DECODERS if decoder in available}

    def transcribe(self, waveforms, decoder="greedy"):
        """(texts, confidences) of a list of 1-D waveforms, in their order."""
        if decoder not in self.functions:
            raise ValueError(f"Unknown or unavailable decoder {decoder!r}; available: {sorted(self.functions)}")
        function = self.functions[decoder]
        order = np.argsort([len(w) for w in waveforms], kind="stable")
        texts, confidences = [None] * len(waveforms), np.zeros(len(waveforms), np.float32)
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            lengths = np.array([len(waveforms[i]) for i in indices], np.int32)
            batch = np.zeros((len(indices), max(int(lengths.max()), 1)), np.float32)
            for row, i in enumerate(indices):
                batch[row, :lengths[row]] = waveforms[i]
            batch_texts, batch_confidences = function(batch, lengths)
            for row, i in enumerate(indices):
                texts[i] = batch_texts[row].numpy().decode()
                confidences[i] = float(batch_confidences[row])
        return texts, confidences


def score(references, hypotheses, categories=None):
    """{wer, sentence_accuracy, words, utterances} and, with categories, the same per category."""
    result = {"wer": word_error_rate(references, hypotheses),
              "sentence_accuracy": sentence_accuracy(references, hypotheses),
              "utterances": len(references), "words": sum(len(r.split()) for r in references)}
    if categories is not None:
        per_category = {}
        for category in sorted(set(categories)):
            rows = [i for i, c in enumerate(categories) if c == category]
            per_category[category] = {
                "wer": word_error_rate([references[i] for i in rows], [hypotheses[i] for i in rows]),
                "sentence_accuracy": sentence_accuracy([references[i] for i in rows],
                                                       [hypotheses[i] for i in rows]),
                "utterances": len(rows)}
        result["per_category"] = per_category
    return result


def evaluate_clips(transcriber, clips, decoders=DECODERS):
    """{decoder: score(...)} plus the hypotheses, for one set of clips."""
    results, hypotheses = {}, {}
    for decoder in decoders:
        if decoder not in transcriber.functions:
            continue
        texts, _ = transcriber.transcribe(list(clips.waveforms), decoder)
        hypotheses[decoder] = texts
        results[decoder] = score(list(clips.transcripts), texts, list(clips.categories))
    return results, hypotheses


def errors_table(clips, hypotheses, limit=200):
    """The misrecognised utterances: reference, hypothesis, category, speaker."""
    rows = []
    for i, (reference, hypothesis) in enumerate(zip(clips.transcripts, hypotheses)):
        if reference != hypothesis:
            rows.append({"reference": reference, "hypothesis": hypothesis, "category": clips.categories[i],
                         "speaker": str(clips.speakers[i]) if getattr(clips, "speakers", None) else ""})
    return rows[:limit]


def evaluate(model, data, config, run_dir, lm=None):
    """Test-set metrics for greedy, beam and beam + LM decoding; writes errors.json and a posterior plot."""
    from tasks.common.run_dir import atomic_write_json

    transcriber = Transcriber(model, config.beam_width, lm, config.lm_weight, config.word_bonus,
                              batch_size=config.batch_size)
    results, hypotheses = evaluate_clips(transcriber, data.test_clips)
    metrics = {"test_wer": results["greedy"]["wer"],
               "test_sentence_accuracy": results["greedy"]["sentence_accuracy"],
               "test_words": results["greedy"]["words"], "test_utterances": results["greedy"]["utterances"]}
    for decoder, result in results.items():
        metrics[f"test_wer_{decoder}"] = result["wer"]
        metrics[f"test_sentence_accuracy_{decoder}"] = result["sentence_accuracy"]
    metrics["test_per_category"] = results["greedy"]["per_category"]
    atomic_write_json(run_dir / "errors.json", {decoder: errors_table(data.test_clips, texts)
                                                for decoder, texts in hypotheses.items()})
    if len(data.test_clips.waveforms):
        waveform = np.asarray(data.test_clips.waveforms[0], np.float32)
        log_probs, lengths = model.encode(waveform[None])
        plot_posteriors(run_dir / "posteriors.png", waveform, np.asarray(log_probs)[0, :int(lengths[0])],
                        title=f"test clip 0: {data.test_clips.transcripts[0]!r}",
                        frame_seconds=config.subsampling * 0.01)
    return metrics


# --------------------------------------------------------------------------- plot


def greedy_alignment(log_probs, alphabet=None):
    """[(character, first frame, last frame)] of the best path, repeats merged, blanks dropped."""
    from tasks.speech_recognition.ctc_decoding import ALPHABET

    alphabet = alphabet or ALPHABET
    best = np.argmax(log_probs, axis=-1)
    segments, previous = [], 0
    for frame, label in enumerate(best):
        if label != 0 and label == previous and segments:
            segments[-1][2] = frame
        elif label != 0:
            segments.append([alphabet[label - 1], frame, frame])
        previous = label
    return [tuple(s) for s in segments]


def plot_posteriors(path, waveform, log_probs, title="", frame_seconds=0.04, sample_rate=16000,
                    spectrogram=None):
    """Log-mel spectrogram, CTC character posteriors and the greedy alignment in one PNG."""
    import os
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks.speech_recognition.ctc_decoding import ALPHABET

    log_probs = np.asarray(log_probs, np.float32)
    seconds = len(log_probs) * frame_seconds
    if spectrogram is None:
        spectrogram = _coarse_log_spectrogram(np.asarray(waveform, np.float32), sample_rate)
    figure, axes = plt.subplots(3, 1, figsize=(max(8, min(30, 2 * seconds)), 8), sharex=True,
                                gridspec_kw={"height_ratios": [2, 2, 1]})
    axes[0].imshow(np.asarray(spectrogram, np.float32).T, origin="lower", aspect="auto", cmap="magma",
                   extent=[0, seconds, 0, sample_rate / 2000])
    axes[0].set_ylabel("kHz")
    axes[0].set_title(title or "speech recognition")
    posteriors = np.exp(log_probs)
    axes[1].imshow(posteriors.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
                   extent=[0, seconds, -0.5, posteriors.shape[1] - 0.5], interpolation="nearest")
    axes[1].set_yticks(range(posteriors.shape[1]))
    axes[1].set_yticklabels(["_"] + ["␣" if c == " " else c for c in ALPHABET], fontsize=6)
    axes[1].set_ylabel("CTC posteriors")
    for character, first, last in greedy_alignment(log_probs):
        middle = (first + last + 1) / 2 * frame_seconds
        axes[2].axvspan(first * frame_seconds, (last + 1) * frame_seconds, color="tab:blue", alpha=0.25)
        axes[2].text(middle, 0.5, "␣" if character == " " else character, ha="center", va="center",
                     fontsize=9)
    axes[2].set_yticks([])
    axes[2].set_ylabel("alignment")
    axes[2].set_xlabel("seconds")
    axes[2].set_xlim(0, max(seconds, frame_seconds))
    figure.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    figure.savefig(tmp, dpi=90, format="png")
    plt.close(figure)
    os.replace(tmp, path)
    return path


def _coarse_log_spectrogram(waveform, sample_rate=16000, hop=160, bins=64):
    """A small log power spectrogram (one column per 10 ms) for the plot."""
    window = np.hanning(400).astype(np.float32)
    count = max(0, (len(waveform) - 400) // hop + 1)
    if count == 0:
        return np.zeros((1, bins), np.float32)
    frames = np.stack([waveform[i * hop:i * hop + 400] * window for i in range(count)])
    power = np.abs(np.fft.rfft(frames, n=512, axis=1))[:, :256] ** 2
    return np.log10(power.reshape(count, bins, -1).mean(axis=2) + 1e-10)
