"""``python -m tasks.speech_recognition transcribe``: audio files to text.

    python -m tasks.speech_recognition transcribe --model runs/speech_recognition a.wav b.flac
        [--json] [--plot P.png] [--dates-model runs/date_translation] [--decoder greedy|beam|beam_lexicon]

Any sample rate and channel count (mixed down to mono, resampled to 16 kHz
with soxr's streaming resampler) and any length: files are read in blocks and
cut into pieces of at most ``MAX_PIECE_SECONDS`` at the quietest moment (the
lowest 100 ms energy) between ``MIN_PIECE_SECONDS`` and that limit, so a pause
between words is where a long recording is split. Each piece is transcribed
by the SavedModel and the texts are joined; memory holds one piece, its
log-probabilities and, for ``--plot``, a small spectrogram.

``--dates-model`` passes each transcript through the date-translation
SavedModel's ``serving_default`` and reports its ``iso`` answer ("" when the
transcript is not a date).

A file that cannot be read (not audio, empty, truncated, missing) gets a
one-line ``error: PATH: reason`` on stderr and the other files are still
transcribed; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np

from tasks.common import audio_files
from tasks.common.audio_files import AudioError

SAMPLE_RATE = 16000
READ_SECONDS = 5.0
MAX_PIECE_SECONDS = 20.0
MIN_PIECE_SECONDS = 8.0
ENERGY_WINDOW = 1600  # 100 ms, the span over which a pause is looked for.
ALIGN = 1920  # cuts fall on output frames of every subsampling (120 ms, a multiple of 20, 30 and 40 ms)


def check_wav_complete(path):
    """Raises :class:`AudioError` when a RIFF/WAVE file holds fewer data bytes than its header declares.

    libsndfile silently reads what is there, so a truncated download would be
    transcribed as if whole. Streamed WAVs that leave the size at 0 or
    0xFFFFFFFF are accepted.
    """
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return
                available = size - position - 8
                if available < chunk_size:
                    raise AudioError(f"truncated WAV file: the header declares {chunk_size} data bytes, "
                                     f"the file holds {available}")
                return
            position += 8 + chunk_size + (chunk_size & 1)


def read_blocks(path, block_seconds=READ_SECONDS):
    """Yields 16 kHz mono float32 blocks of ``path``, resampled in a stream; truncated WAVs are refused."""
    if not Path(path).is_file():
        raise AudioError("no such file")
    check_wav_complete(path)
    yield from audio_files.read_blocks(path, block_seconds, SAMPLE_RATE)


def quietest_cut(audio, start, stop):
    """Sample index in [start, stop), a multiple of ``ALIGN``, at the lowest 100 ms energy of ``audio``."""
    start, stop = -(-start // ALIGN) * ALIGN, stop // ALIGN * ALIGN
    if stop <= start:
        return stop if stop > 0 else len(audio)
    candidates = np.arange(start, stop, ALIGN)
    energy = np.cumsum(np.concatenate([[0.0], np.square(audio.astype(np.float64))]))
    lo = np.clip(candidates - ENERGY_WINDOW // 2, 0, len(audio))
    hi = np.clip(candidates + ENERGY_WINDOW // 2, 0, len(audio))
    return int(candidates[np.argmin(energy[hi] - energy[lo])])


def pieces(blocks, max_seconds=MAX_PIECE_SECONDS, min_seconds=MIN_PIECE_SECONDS):
    """Cuts a stream of 16 kHz blocks into pieces of at most ``max_seconds``, at pauses."""
    limit, least = int(max_seconds * SAMPLE_RATE), int(min_seconds * SAMPLE_RATE)
    buffer = np.zeros(0, np.float32)
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) > limit:
            cut = quietest_cut(buffer, least, limit)
            yield buffer[:cut]
            buffer = buffer[cut:]
    if len(buffer):
        yield buffer


class Recognizer:
    """A loaded speech-recognition SavedModel, and optionally a date-translation one."""

    def __init__(self, model_dir, decoder="default", dates_model=None):
        import tensorflow as tf

        from tasks.common.run_dir import RunDir

        self.loaded = tf.saved_model.load(str(RunDir.open(model_dir, "speech_recognition").saved_model_dir))
        signature = {"default": "serving_default"}.get(decoder, decoder)
        if signature not in self.loaded.signatures:
            raise SystemExit(f"error: {model_dir} has no {decoder} decoder (a SavedModel without a language model "
                             f"has no beam_lexicon); it has {', '.join(sorted(self.loaded.signatures))}.")
        self.serve = self.loaded.signatures[signature]
        self.posteriors = self.loaded.signatures["posteriors"]
        self.frame_seconds = float(self.loaded.frame_seconds.numpy())
        self.dates = None
        if dates_model:
            self.dates = tf.saved_model.load(
                str(RunDir.open(dates_model, "date_translation").saved_model_dir)).signatures["serving_default"]

    def transcribe(self, blocks, keep_posteriors=False):
        """{text, confidence} of a stream of blocks (and the log-probabilities and spectrogram if asked)."""
        from tasks.speech_recognition.evaluate import _coarse_log_spectrogram

        texts, weights, confidences, log_probs, spectrograms = [], [], [], [], []
        for piece in pieces(blocks):
            outputs = self.serve(waveform=piece)
            text = outputs["text"].numpy().decode()
            if text:
                texts.append(text)
                weights.append(len(text))
                confidences.append(float(outputs["confidence"]))
            if keep_posteriors:
                log_probs.append(self.posteriors(waveform=piece)["log_probs"].numpy())
                spectrograms.append(_coarse_log_spectrogram(piece).astype(np.float16))
        result = {"text": " ".join(texts),
                  "confidence": float(np.average(confidences, weights=weights)) if texts else 0.0}
        if self.dates is not None:
            result["iso"] = self.to_iso(result["text"])
        if keep_posteriors:
            result["log_probs"] = np.concatenate(log_probs) if log_probs else np.zeros((0, 28), np.float32)
            result["spectrogram"] = np.concatenate(spectrograms) if spectrograms else np.zeros((1, 64))
        return result

    def to_iso(self, text):
        import tensorflow as tf

        if not text:
            return ""
        return self.dates(text=tf.constant([text]))["iso"].numpy()[0].decode()


def transcribe_command(argv):
    """transcribe audio files to text (--json, --plot, --dates-model for ISO dates)"""
    parser = argparse.ArgumentParser(prog="python -m tasks.speech_recognition transcribe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, ...)")
    parser.add_argument("--model", required=True, help="run directory (or its saved_model/) written by `train`")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: path -> {text, confidence[, iso]}")
    parser.add_argument("--plot", metavar="P.png",
                        help="spectrogram, CTC character posteriors and the decoded alignment in one PNG "
                             "(P_<input stem>.png for each file when several are given)")
    parser.add_argument("--dates-model", metavar="DIR",
                        help="date-translation run (or SavedModel): also give each transcript's ISO date")
    parser.add_argument("--decoder", choices=("default", "greedy", "beam", "beam_lexicon"), default="default",
                        help="the SavedModel's serving_default, or its greedy, beam or beam_lexicon (beam search "
                             "held to the language model's words) signature")
    args = parser.parse_args(argv)
    recognizer = Recognizer(args.model, args.decoder, args.dates_model)

    many = len(args.files) > 1

    def transcribe_file(path):
        result = recognizer.transcribe(read_blocks(path), keep_posteriors=bool(args.plot))
        if args.plot:
            from tasks.speech_recognition.evaluate import plot_posteriors

            plot_posteriors(audio_files.output_path(args.plot, path, many), None, result.pop("log_probs"),
                            title=f"{Path(path).name}: {result['text']!r}", frame_seconds=recognizer.frame_seconds,
                            spectrogram=result.pop("spectrogram"))
        return result

    def describe(result):
        iso = f" -> {result['iso'] or 'not a date'}" if "iso" in result else ""
        return f"{result['text']!r} (confidence {result['confidence']:.2f}){iso}"

    return audio_files.for_each_file(args.files, transcribe_file, describe, args.json)
