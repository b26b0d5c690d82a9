"""``python -m tasks.trigger_word listen``: hear the trigger word live, from a microphone or a pipe.

    python -m tasks.trigger_word listen --model RUN              # the default microphone
    arecord -f S16_LE -r 16000 -c 1 | python -m tasks.trigger_word listen --model RUN -
    sox in.mp3 -t raw -e signed -b 16 -c 1 - | python -m tasks.trigger_word listen --model RUN - --rate 44100
        [--json] [--chime OUT.wav | --chime play] [--threshold 0.6] [--chunk-ms 160]
        [--engine auto|tflite|saved_model]

``-`` reads raw 16-bit little-endian mono PCM from standard input (16 kHz, or
``--rate`` Hz, resampled in a stream with soxr); without it the default
microphone is read through ``sounddevice`` (PortAudio), imported only then.
Audio is cut into chunks of ``--chunk-ms`` (a multiple of 40 ms) and each
chunk goes through the run's exported streaming step with the carried state:
its TFLite step (``trigger_word.tflite`` when its chunk matches, else one
converted once from the run's ``model.keras`` and kept next to it, since a
TFLite step has a fixed chunk length), or the SavedModel's ``stream_step``
signature (``--engine saved_model``, or when there is no TFLite step to be
had); a SavedModel call costs about as much for 40 ms as for 1.28 s, which
is why TFLite is preferred at short chunks. The decision
rule the run chose on validation (threshold, smoothing, persistence,
refractory time) is applied with carried state too, so the detections are
exactly those of ``detect`` on the same audio as one file.

Each detection is printed as it happens: its time in the stream, the frame's
probability, and the delay, the seconds from the end of the frame that fired
to the print (audio still buffered in the chunk plus the time the chunk took
to arrive in full and be processed). ``--json`` prints one JSON object a line.
``--chime OUT.wav`` writes the heard audio with a chime at each detection;
``--chime play`` plays the chime on the default output device.

End of input ends the command (status 0) after the last partial chunk;
Ctrl-C stops it without a traceback (status 130). Bad input (an odd number of
bytes, a bad ``--rate``, no microphone) gets a one-line ``error:`` on stderr
and status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import select
import sys
import time
from pathlib import Path

import numpy as np

from tasks.trigger_word.detect import SAMPLE_RATE, AudioError, chime

DEFAULT_CHUNK_MS = 160
MIN_RATE, MAX_RATE = 1000, 768_000
READ_BYTES = 4096


@dataclasses.dataclass
class Detection:
    time: float  # seconds from the start of the stream to the end of the frame that fired
    probability: float  # that frame's probability
    delay: float  # seconds from the end of that frame to the detection being known

    def to_dict(self):
        return {"time": round(self.time, 3), "probability": round(self.probability, 4),
                "delay": round(self.delay, 4)}


class Listener:
    """Detections of a run's streaming model over audio that arrives in pieces.

    Args:
        detector: a :class:`tasks.trigger_word.detect.Detector` (the loaded
            SavedModel and its decision rule).
        chunk_frames: output frames (40 ms each) per streaming step.
        tflite: path of the run's TFLite streaming step to use instead of the
            SavedModel's ``stream_step``; its chunk length replaces ``chunk_frames``.

    ``feed(samples, arrival)`` takes 16 kHz float32 samples and the
    ``time.monotonic()`` at which the last of them arrived, and returns the
    detections of the chunks completed; ``finish()`` pads and runs the last
    partial chunk.
    """

    def __init__(self, detector, chunk_frames=DEFAULT_CHUNK_MS // 40, tflite=None):
        from tasks.trigger_word.evaluate import initial_detection_state
        from tasks.trigger_word.export import TFLiteStreamer, initial_states

        if not detector.streaming:
            raise AudioError("listen needs a streaming model (train --model streaming): the "
                             "course model's centred convolution looks ahead")
        self.detector = detector
        self.frame_samples = detector.frame_samples
        if tflite is not None:
            self.streamer = TFLiteStreamer(tflite, num_threads=1)
            self.chunk_samples = self.streamer.chunk_samples
        else:
            if chunk_frames < 1:
                raise ValueError(f"chunk_frames must be >= 1; received {chunk_frames}")
            self.streamer = None
            self.chunk_samples = int(chunk_frames) * self.frame_samples
            self._step = detector.loaded.signatures["stream_step"]
            self._states = initial_states(detector.loaded)
        # One step on silence, its outputs dropped, so the first real chunk is not slowed by
        # the graph's first run.
        if self.streamer is not None:
            self.streamer.step(np.zeros(self.chunk_samples, np.float32))
            self.streamer.reset()
        else:
            self._step(chunk=np.zeros((1, self.chunk_samples), np.float32), **self._states)
        self._rule_state = initial_detection_state(detector.smoothing_frames, detector.min_frames)
        self._pending = np.zeros(0, np.float32)
        self.frames = 0  # output frames processed so far
        self.samples = 0  # samples fed so far
        self.compute_seconds = 0.0

    @property
    def chunk_seconds(self):
        return self.chunk_samples / SAMPLE_RATE

    def _probabilities(self, chunk):
        started = time.perf_counter()
        if self.streamer is not None:
            padded = np.zeros(self.chunk_samples, np.float32)
            padded[:len(chunk)] = chunk
            probabilities = self.streamer.step(padded)[:len(chunk) // self.frame_samples]
        else:
            outputs = self._step(chunk=chunk[None], **self._states)
            self._states = {name: outputs[name].numpy() for name in self._states}
            probabilities = outputs["probabilities"].numpy()[0]
        self.compute_seconds += time.perf_counter() - started
        return probabilities

    def _run(self, chunk, arrival, audio_end):
        from tasks.trigger_word.evaluate import detect_events

        detector = self.detector
        probabilities = self._probabilities(chunk)
        times, self._rule_state = detect_events(
            probabilities, detector.threshold, detector.refractory_seconds, detector.frame_seconds,
            start_frame=self.frames, state=self._rule_state,
            smoothing_frames=detector.smoothing_frames, min_frames=detector.min_frames)
        waited = time.monotonic() - arrival
        found = []
        for detection_time in times:
            frame = int(round(detection_time / detector.frame_seconds)) - 1 - self.frames
            found.append(Detection(detection_time, float(probabilities[frame]),
                                   max(0.0, audio_end - detection_time) + waited))
        self.frames += len(probabilities)
        return found

    def feed(self, samples, arrival=None):
        """Detections of the chunks that ``samples`` complete."""
        arrival = time.monotonic() if arrival is None else arrival
        samples = np.asarray(samples, np.float32).reshape(-1)
        self.samples += len(samples)
        self._pending = np.concatenate([self._pending, samples])
        found = []
        while len(self._pending) >= self.chunk_samples:
            chunk, self._pending = (self._pending[:self.chunk_samples],
                                    self._pending[self.chunk_samples:])
            # All the audio fed so far had arrived by ``arrival``: a frame's delay counts from there.
            found += self._run(chunk, arrival, self.samples / SAMPLE_RATE)
        return found

    def finish(self, arrival=None):
        """Detections of the last partial chunk, zero-padded to whole frames like whole-file detection."""
        arrival = time.monotonic() if arrival is None else arrival
        if not len(self._pending):
            return []
        frames = -(-len(self._pending) // self.frame_samples)
        chunk = np.zeros(frames * self.frame_samples, np.float32)
        chunk[:len(self._pending)] = self._pending
        self._pending = np.zeros(0, np.float32)
        return self._run(chunk, arrival, self.samples / SAMPLE_RATE)


# --------------------------------------------------------------------------- audio sources


def _wait_readable(descriptor, poll_seconds=0.1):
    """Returns once ``descriptor`` has data or its end, waking every ``poll_seconds`` meanwhile.

    Ctrl-C may be delivered to any of the process's threads (TensorFlow starts
    many); Python then runs its handler only when the main thread next runs
    Python code, which a read blocked on a silent pipe would never do.
    """
    while True:
        try:
            readable, _, _ = select.select([descriptor], [], [], poll_seconds)
        except (OSError, ValueError):  # not selectable (e.g. a Windows pipe): just read
            return
        if readable:
            return


def pcm_blocks(stream, rate=SAMPLE_RATE, read_bytes=READ_BYTES):
    """Yields ``(16 kHz float32 samples, arrival time)`` from a binary stream of 16-bit LE mono PCM.

    Reads whatever is available (``os.read``) so live audio is not held back
    waiting for a full buffer.
    """
    resampler = None
    if rate != SAMPLE_RATE:
        import soxr

        resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    descriptor = stream.fileno()
    leftover = b""
    total = 0
    while True:
        _wait_readable(descriptor)
        data = os.read(descriptor, read_bytes)
        arrival = time.monotonic()
        last = not data
        total += len(data)
        data = leftover + data
        usable = len(data) // 2 * 2
        leftover = data[usable:]
        samples = np.frombuffer(data[:usable], "<i2").astype(np.float32) / 32768.0
        if resampler is not None:
            samples = resampler.resample_chunk(samples, last=last)
        if len(samples):
            yield samples, arrival
        if last:
            if leftover:
                raise AudioError(f"standard input ended after an odd number of bytes ({total}): "
                                 f"expected 16-bit samples")
            return


def microphone_blocks(rate=SAMPLE_RATE, block_samples=640):
    """Yields ``(16 kHz float32 samples, arrival time)`` from the default microphone."""
    try:
        import sounddevice
    except (ImportError, OSError) as error:  # OSError: the PortAudio library is missing
        raise AudioError(f"reading the microphone needs sounddevice and PortAudio "
                         f"(pip install sounddevice; {type(error).__name__}: {error}); or pipe "
                         f"raw audio in: arecord -f S16_LE -r 16000 -c 1 | ... listen -") from None
    blocks = queue.Queue()

    def collect(indata, frames, time_info, status):
        blocks.put((indata[:, 0].copy(), time.monotonic(), bool(status)))

    resampler = None
    if rate != SAMPLE_RATE:
        import soxr

        resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    try:
        stream = sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32",
                                         blocksize=max(1, block_samples * rate // SAMPLE_RATE),
                                         callback=collect)
    except Exception as error:  # PortAudio errors: no device, unsupported rate
        raise AudioError(f"cannot open the microphone at {rate} Hz ({error})") from None
    warned = False
    with stream:
        while True:
            try:  # in slices, so that a Ctrl-C handled by another thread is seen (see _wait_readable)
                samples, arrival, overflowed = blocks.get(timeout=0.1)
            except queue.Empty:
                continue
            if overflowed and not warned:
                print("warning: the microphone dropped audio (input overflow)", file=sys.stderr)
                warned = True
            if resampler is not None:
                samples = resampler.resample_chunk(samples)
            if len(samples):
                yield samples, arrival


# --------------------------------------------------------------------------- chimes


class ChimeWriter:
    """Writes the heard audio to a 16 kHz WAV file with a chime added at each detection.

    Audio is held until the listener has processed it (a detection can only
    fall in audio already processed), then written; the file is the audio
    heard, and then the rest of a chime that rang at its very end.
    """

    def __init__(self, path):
        import soundfile

        self.bell = chime()
        self.file = soundfile.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16")
        self.position = 0  # samples written
        self.pending = np.zeros(0, np.float32)  # heard, not yet written
        self.overlay = np.zeros(0, np.float32)  # chimes to add from self.position on

    def add_audio(self, samples):
        self.pending = np.concatenate([self.pending, samples])

    def add_detection(self, seconds):
        start = max(0, int(round(seconds * SAMPLE_RATE)) - self.position)
        end = start + len(self.bell)
        if len(self.overlay) < end:
            self.overlay = np.pad(self.overlay, (0, end - len(self.overlay)))
        self.overlay[start:end] += self.bell

    def flush(self, upto_samples):
        """Writes what was heard before sample ``upto_samples``."""
        count = min(max(0, upto_samples - self.position), len(self.pending))
        if not count:
            return
        block = self.pending[:count].copy()
        overlap = min(count, len(self.overlay))
        block[:overlap] += self.overlay[:overlap]
        self.file.write(np.clip(block, -1, 1))
        self.pending, self.overlay = self.pending[count:], self.overlay[overlap:]
        self.position += count

    def close(self):
        self.flush(self.position + len(self.pending))
        if len(self.overlay):
            self.file.write(np.clip(self.overlay, -1, 1))
        self.file.close()


class ChimePlayer:
    """Plays the chime on the default output device; warns once and goes quiet if it cannot."""

    def __init__(self):
        self.bell = chime()
        try:
            import sounddevice

            self.sounddevice = sounddevice
        except (ImportError, OSError) as error:
            print(f"warning: cannot play chimes ({type(error).__name__}: {error}); "
                  f"pip install sounddevice, or --chime OUT.wav", file=sys.stderr)
            self.sounddevice = None

    def play(self):
        if self.sounddevice is None:
            return
        try:
            self.sounddevice.play(self.bell, SAMPLE_RATE)
        except Exception as error:  # no output device
            print(f"warning: cannot play chimes ({error})", file=sys.stderr)
            self.sounddevice = None


# --------------------------------------------------------------------------- command


def _parse_rate(text):
    try:
        rate = int(text)
    except ValueError:
        rate = None
    if rate is None or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"--rate must be a whole number of samples per second from {MIN_RATE} "
                         f"to {MAX_RATE}; received {text!r}")
    return rate


def _parse_chunk(text, frame_milliseconds=40):
    try:
        milliseconds = float(text)
    except ValueError:
        milliseconds = -1
    frames = milliseconds / frame_milliseconds
    if milliseconds <= 0 or frames != int(frames):
        raise AudioError(f"--chunk-ms must be a positive multiple of {frame_milliseconds} ms; "
                         f"received {text!r}")
    return int(frames)


def _run_dir(model_dir):
    model_dir = Path(model_dir)
    return model_dir.parent if model_dir.name == "saved_model" else model_dir


def tflite_for_chunk(model_dir, chunk_frames, make=True):
    """The run's TFLite streaming step for chunks of ``chunk_frames`` frames, or ``None``.

    The run's ``trigger_word.tflite`` when its chunk matches; otherwise
    ``trigger_word_<ms>ms.tflite`` next to it, converted once from the run's
    ``model.keras`` with :func:`tasks.trigger_word.export.export_tflite` when
    ``make`` (a TFLite step has a fixed chunk length).
    """
    from tasks.trigger_word.export import TFLiteStreamer
    from tasks.trigger_word.model import FRAME_SAMPLES

    run_dir = _run_dir(model_dir)
    default = run_dir / "trigger_word.tflite"
    if default.is_file() and TFLiteStreamer(default).chunk_samples == chunk_frames * FRAME_SAMPLES:
        return default
    path = run_dir / f"trigger_word_{chunk_frames * 40}ms.tflite"
    if path.is_file():
        return path
    if not make or not (run_dir / "model.keras").is_file():
        return None
    import keras

    from tasks.trigger_word.export import export_tflite
    from tasks.trigger_word.model import TriggerWordModel  # noqa: F401  (registers the class)

    print(f"converting {run_dir / 'model.keras'} to a TFLite step of {chunk_frames * 40} ms "
          f"(once): {path}", file=sys.stderr, flush=True)
    model = keras.models.load_model(run_dir / "model.keras")
    if not model.causal:
        return None
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    export_tflite(model, temporary, chunk_samples=chunk_frames * FRAME_SAMPLES)
    os.replace(temporary, path)
    return path


def listen_command(argv):
    """listen live to the microphone or piped 16-bit PCM (`-`) and print each detection"""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m tasks.trigger_word listen",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default=None, choices=["-"],
                        help="`-` reads raw 16-bit little-endian mono PCM from standard input; "
                             "without it the default microphone is read")
    parser.add_argument("--model", required=True,
                        help="run directory (or its saved_model/) of a streaming model")
    parser.add_argument("--rate", default=str(SAMPLE_RATE),
                        help="sample rate of the input in Hz (resampled to 16 kHz); default 16000")
    parser.add_argument("--json", action="store_true", help="print one JSON object per detection")
    parser.add_argument("--chime", metavar="OUT.wav|play",
                        help="write the heard audio with a chime at each detection to OUT.wav, "
                             "or `play` the chime on the default output device")
    parser.add_argument("--threshold", type=float, default=None,
                        help="override the threshold chosen on validation data")
    parser.add_argument("--chunk-ms", default=str(DEFAULT_CHUNK_MS),
                        help=f"audio per streaming step, a multiple of 40 ms (default "
                             f"{DEFAULT_CHUNK_MS}): shorter means less delay, more calls")
    parser.add_argument("--engine", choices=("auto", "tflite", "saved_model"), default="auto",
                        help="tflite: the run's TFLite step for --chunk-ms (converted once from "
                             "model.keras when the run has none of that chunk); saved_model: its "
                             "stream_step signature; auto (default): tflite when the run has or "
                             "can make one, else saved_model")
    args = parser.parse_args(argv)
    try:
        return _listen(args)
    except AudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head -1`)
        sys.stderr.close()
        return 0


def _listen(args):
    from tasks.trigger_word.detect import Detector

    rate = _parse_rate(args.rate)
    chunk_frames = _parse_chunk(args.chunk_ms)
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise AudioError(f"--threshold must be in (0, 1); received {args.threshold}")
    detector = Detector(args.model, args.threshold)
    tflite = None
    if args.engine != "saved_model" and detector.streaming:
        tflite = tflite_for_chunk(args.model, chunk_frames)
        if tflite is None and args.engine == "tflite":
            raise AudioError(f"{_run_dir(args.model)} has no TFLite step of {args.chunk_ms} ms "
                             f"and no model.keras to make one from")
    listener = Listener(detector, chunk_frames, tflite)
    word = _trained_word(args.model)
    source = (pcm_blocks(sys.stdin.buffer, rate) if args.source == "-"
              else microphone_blocks(rate, listener.chunk_samples))
    writer = ChimeWriter(args.chime) if args.chime and args.chime != "play" else None
    player = ChimePlayer() if args.chime == "play" else None
    print(f"listening for {word!r} ({'standard input' if args.source else 'microphone'}, "
          f"threshold {detector.threshold:.3f}, {listener.chunk_seconds * 1000:.0f} ms chunks"
          f"{', TFLite' if tflite else ''}); Ctrl-C stops", file=sys.stderr, flush=True)

    def report(detections):
        for detection in detections:
            if args.json:
                print(json.dumps(detection.to_dict()), flush=True)
            else:
                print(f"{word} at {detection.time:.2f} s (probability {detection.probability:.2f}, "
                      f"delay {detection.delay:.2f} s)", flush=True)
            if writer is not None:
                writer.add_detection(detection.time)
            if player is not None:
                player.play()

    count = 0
    try:
        for samples, arrival in source:
            if writer is not None:
                writer.add_audio(samples)
            found = listener.feed(samples, arrival)
            report(found)
            count += len(found)
            if writer is not None:
                writer.flush(listener.frames * listener.frame_samples)
        found = listener.finish()
        report(found)
        count += len(found)
    finally:
        if writer is not None:
            writer.close()
    heard = listener.samples / SAMPLE_RATE
    print(f"end of input: {heard:.2f} s heard, {count} detection{'s' if count != 1 else ''}, "
          f"real-time factor {listener.compute_seconds / max(heard, 1e-9):.4f}", file=sys.stderr)
    return 0


def _trained_word(model_dir):
    try:
        return json.loads((_run_dir(model_dir) / "detection.json").read_text())["word"]
    except (OSError, ValueError, KeyError):
        return "trigger word"
