"""``python -m tasks.trigger_word detect``: find the trigger word in audio files.

    python -m tasks.trigger_word detect --model runs/trigger_word a.wav b.flac [--json]
        [--chime OUT.wav] [--plot P.png] [--threshold 0.6]

Any sample rate and channel count (mixed down to mono, resampled to 16 kHz
with soxr's streaming resampler) and any length: files are read in blocks,
and only the probabilities (25 numbers per second) are kept, so memory stays
bounded. The streaming model is run chunk by chunk through the SavedModel's
``stream_step`` with carried state (exactly its whole-file output); the course
model, which looks ahead, runs on 10 s windows that overlap by 2 s of context.
Detections follow the SavedModel's decision rule (threshold, causal smoothing,
persistence, refractory period; see ``evaluate.py``), applied piecewise with
carried state, so a long file gives the same times as ``detections`` would.

A file that cannot be read (not audio, empty, corrupt) gets a one-line
``error: PATH: reason`` on stderr and the other files are still processed;
the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tasks.common import audio_files
from tasks.common.audio_files import AudioError

SAMPLE_RATE = 16000
READ_SECONDS = 10.0
COURSE_WINDOW_SECONDS = 10.0
COURSE_CONTEXT_SECONDS = 2.0
STREAM_CHUNK_FRAMES = 32


def read_blocks(path, block_seconds=READ_SECONDS):
    """Yields 16 kHz mono float32 blocks of ``path`` (:func:`tasks.common.audio_files.read_blocks`)."""
    return audio_files.read_blocks(path, block_seconds, SAMPLE_RATE)


class Detector:
    """Probabilities and detections of a loaded trigger-word SavedModel."""

    def __init__(self, model_dir, threshold=None):
        import tensorflow as tf

        from tasks.common.run_dir import RunDir

        self.loaded = tf.saved_model.load(str(RunDir.open(model_dir, "trigger_word").saved_model_dir))
        self.threshold = float(self.loaded.threshold.numpy() if threshold is None else threshold)
        self.refractory_seconds = float(self.loaded.refractory_seconds.numpy())
        # SavedModels written before smoothing and persistence existed used neither.
        self.smoothing_frames, self.min_frames = (
            int(getattr(self.loaded, name).numpy()) if hasattr(self.loaded, name) else 1
            for name in ("smoothing_frames", "min_frames"))
        self.frame_seconds = float(self.loaded.frame_seconds.numpy())
        self.frame_samples = int(self.loaded.frame_samples.numpy())
        self.streaming = bool(self.loaded.streaming.numpy())

    def probabilities(self, blocks):
        """Frame probabilities of a stream of 16 kHz blocks, in bounded memory."""
        if self.streaming:
            yield from self._stream(blocks)
        else:
            yield from self._windows(blocks)

    def _stream(self, blocks):
        from tasks.trigger_word.export import initial_states

        step = self.loaded.signatures["stream_step"]
        states = initial_states(self.loaded)
        chunk_samples = STREAM_CHUNK_FRAMES * self.frame_samples
        pending = np.zeros(0, np.float32)

        def run(chunk):
            nonlocal states
            outputs = step(chunk=chunk[None], **states)
            states = {name: outputs[name].numpy() for name in states}
            return outputs["probabilities"].numpy()[0]

        for block in blocks:
            pending = np.concatenate([pending, block])
            usable = len(pending) // chunk_samples * chunk_samples
            if usable:
                yield run(pending[:usable])
                pending = pending[usable:]
        if len(pending):
            frames = -(-len(pending) // self.frame_samples)
            padded = np.zeros(frames * self.frame_samples, np.float32)
            padded[:len(pending)] = pending
            yield run(padded)

    def _windows(self, blocks):
        serve = self.loaded.signatures["serving_default"]
        window = int(COURSE_WINDOW_SECONDS * SAMPLE_RATE)
        context = int(COURSE_CONTEXT_SECONDS * SAMPLE_RATE)
        hop = window - context
        context_frames = context // self.frame_samples
        buffer = np.zeros(0, np.float32)  # audio from buffer_start on
        buffer_start = 0  # sample index of buffer[0]
        next_start = 0  # first sample whose probability is still owed
        finished = False
        blocks = iter(blocks)
        while not finished:
            # Window k covers [next_start - context, next_start + hop) (clamped at 0).
            window_end = next_start + hop
            while buffer_start + len(buffer) < window_end:
                block = next(blocks, None)
                if block is None:
                    finished = True
                    break
                buffer = np.concatenate([buffer, block])
            window_start = max(0, next_start - context)
            audio = buffer[window_start - buffer_start: window_end - buffer_start]
            available = buffer_start + len(buffer) - next_start
            if available <= 0:
                break
            outputs = serve(waveform=audio[None].astype(np.float32))
            probabilities = outputs["probabilities"].numpy()[0]
            skip = (next_start - window_start) // self.frame_samples
            yield probabilities[skip:]
            if skip and skip != context_frames:  # pragma: no cover - alignment guard
                raise RuntimeError("window alignment error")
            next_start = window_end
            keep_from = max(0, next_start - context) - buffer_start
            buffer, buffer_start = buffer[keep_from:], buffer_start + keep_from

    def detect(self, blocks):
        """(detection times, probabilities) of a stream of blocks."""
        from tasks.trigger_word.evaluate import detect_events, initial_detection_state

        times, pieces, frame = [], [], 0
        state = initial_detection_state(self.smoothing_frames, self.min_frames)
        for probabilities in self.probabilities(blocks):
            found, state = detect_events(probabilities, self.threshold, self.refractory_seconds,
                                         self.frame_seconds, start_frame=frame, state=state,
                                         smoothing_frames=self.smoothing_frames,
                                         min_frames=self.min_frames)
            times += found
            pieces.append(probabilities)
            frame += len(probabilities)
        return times, (np.concatenate(pieces) if pieces else np.zeros(0, np.float32))


def coarse_spectrogram(blocks, frame_samples=640, bins=64):
    """A small log spectrogram (one column per 40 ms, ``bins`` rows) for plots of long files."""
    columns, pending = [], np.zeros(0, np.float32)
    window = np.hanning(512).astype(np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block])
        count = len(pending) // frame_samples
        if count:
            frames = pending[:count * frame_samples].reshape(count, frame_samples)[:, :512] * window
            power = np.abs(np.fft.rfft(frames, axis=1))[:, :256] ** 2
            columns.append(np.log10(power.reshape(count, bins, -1).mean(axis=2) + 1e-10)
                           .astype(np.float16))
            pending = pending[count * frame_samples:]
    return np.concatenate(columns) if columns else np.zeros((0, bins), np.float16)


def chime(sample_rate=SAMPLE_RATE, seconds=0.35):
    """The course's "chime on activate": a bright two-tone bell with a fast decay."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * 1318.5 * time) + 0.6 * np.sin(2 * np.pi * 1975.5 * time)
    return (0.4 * tone * np.exp(-time * 12)).astype(np.float32)


def write_chimed(path, blocks, detections, out_path):
    """Writes the 16 kHz mono audio with a chime at every detection, block by block."""
    import soundfile

    bell = chime()
    starts = [int(round(t * SAMPLE_RATE)) for t in detections]
    position = 0
    with soundfile.SoundFile(str(out_path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as out:
        for block in blocks:
            block = block.copy()
            for start in starts:
                lo, hi = max(start, position), min(start + len(bell), position + len(block))
                if lo < hi:
                    block[lo - position:hi - position] += bell[lo - start:hi - start]
            out.write(np.clip(block, -1, 1))
            position += len(block)


def detect_command(argv):
    """find the trigger word in audio files (times in seconds; --json, --chime, --plot)"""
    parser = argparse.ArgumentParser(prog="python -m tasks.trigger_word detect",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, ...)")
    parser.add_argument("--model", required=True,
                        help="run directory (or its saved_model/) written by `train`")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: path -> list of detection times")
    parser.add_argument("--chime", metavar="OUT.wav",
                        help="write the audio with a chime at each detection (one file per input "
                             "when several are given: OUT_<input stem>.wav)")
    parser.add_argument("--plot", metavar="P.png",
                        help="spectrogram, probability curve and detections in one PNG")
    parser.add_argument("--threshold", type=float, default=None,
                        help="override the threshold chosen on validation data")
    args = parser.parse_args(argv)
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f"--threshold must be in (0, 1); received {args.threshold}")
    try:
        detector = Detector(args.model, args.threshold)
    except AudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    many = len(args.files) > 1

    def detect_file(path):
        if not Path(path).is_file():
            raise AudioError("no such file")
        times, probabilities = detector.detect(read_blocks(path))
        if args.plot:
            from tasks.trigger_word.evaluate import plot_detection

            plot_detection(audio_files.output_path(args.plot, path, many), probabilities, times,
                           detector.threshold, spectrogram=coarse_spectrogram(read_blocks(path)),
                           title=Path(path).name, frame_seconds=detector.frame_seconds,
                           sample_rate=SAMPLE_RATE)
        if args.chime:
            write_chimed(path, read_blocks(path), times, audio_files.output_path(args.chime, path, many))
        return times

    def describe(times):
        shown = ", ".join(f"{t:.2f}" for t in times)
        return shown + " s" if times else "no detections"

    return audio_files.for_each_file(args.files, detect_file, describe, args.json)
