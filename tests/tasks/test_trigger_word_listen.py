"""Tests of `python -m tasks.trigger_word listen`: streamed detections, piped audio, errors, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tasks.trigger_word import evaluate as ev
from tasks.trigger_word.model import FRAME_SAMPLES, build_model
from tests.tasks.test_trigger_word import TINY, speech_like, tiny_streaming_model

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

# Every test here runs the listen command in a fresh process over an exported run.
pytestmark = pytest.mark.e2e


def write_run(directory, model, rule, tflite_frames=None):
    """A run directory as `train` leaves it: saved_model/, model.keras, detection.json, TFLite."""
    from tasks.trigger_word.export import export_saved_model, export_tflite

    directory.mkdir(parents=True, exist_ok=True)
    export_saved_model(model, directory / "saved_model", rule=rule)
    model.save(directory / "model.keras")
    (directory / "detection.json").write_text(json.dumps({**rule.to_dict(), "word": "activate"}))
    if tflite_frames:
        export_tflite(model, directory / "trigger_word.tflite",
                      chunk_samples=tflite_frames * FRAME_SAMPLES)
    return directory


def loudness_model():
    """The streaming architecture with weights set by hand so that it fires while audio is loud.

    Feature norm subtracts a log-mel level between the 1e-4 noise floor (about -12) and speech
    (about -2); the convolution's first filter averages the bins over its window; each GRU passes
    its first input through tanh with the update gate shut (state = candidate); the classifier
    maps the last GRU's first unit to a probability near 1 when loud, near 0 when quiet.
    """
    model = build_model("streaming", **TINY)
    bins = model.num_mel_bins
    model.feature_norm.set_weights([np.ones(bins), np.zeros(bins), np.full(bins, -7.0), np.ones(bins)])
    kernel = np.zeros(model.conv.get_weights()[0].shape, np.float32)
    kernel[:, :, 0] = 1.0 / (kernel.shape[0] * bins)
    model.conv.set_weights([kernel, np.zeros(kernel.shape[-1])])
    for norm in [model.conv_norm] + model.recurrent_norm:
        size = norm.get_weights()[0].shape[0]
        norm.set_weights([np.ones(size), np.zeros(size), np.zeros(size), np.ones(size) - 1e-3])
    units = model.units
    for layer, gain, bias in zip(model.recurrent, (2.0, 3.0), (-2.0, 0.0)):
        cell_kernel, recurrent_kernel, cell_bias = layer.cell.get_weights()
        cell_kernel, recurrent_kernel, cell_bias = (np.zeros_like(cell_kernel),
                                                   np.zeros_like(recurrent_kernel),
                                                   np.zeros_like(cell_bias))
        cell_kernel[0, 2 * units] = gain  # first input -> candidate of the first unit
        cell_bias[0, :units] = -20.0  # update gate shut: the state is the candidate
        cell_bias[0, 2 * units] = bias
        layer.cell.set_weights([cell_kernel, recurrent_kernel, cell_bias])
    classifier = np.zeros((units, 1), np.float32)
    classifier[0, 0] = 10.0
    model.classifier.set_weights([classifier, np.zeros(1)])
    return model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("listen_runs")
    # An untrained model and a threshold its probabilities cross often: many detections to compare.
    model = tiny_streaming_model(seed=5)
    waveform = np.concatenate([speech_like(16000 * 6, seed=s) for s in (1, 2)])
    probabilities = np.asarray(model(waveform[None]))[0]
    rule = ev.DecisionRule(float(np.quantile(probabilities, 0.7)), 0.2, 3, 2)
    random_run = write_run(directory / "random", model, rule, tflite_frames=8)
    loud = loudness_model()
    loud_run = write_run(directory / "loud", loud, ev.DecisionRule(0.5, 1.5, 1, 1), tflite_frames=4)
    return dict(random=random_run, random_model=model, waveform=waveform,
                probabilities=probabilities, rule=rule, loud=loud_run, loud_model=loud)


@pytest.fixture(scope="module")
def espeak_clip(runs):
    """6 s of faint noise with "activate" (eSpeak NG, in a fresh process) said at 1.0 s and 3.5 s."""
    from data.trigger_word import Speaker, build_word_bank_in_fresh_process

    bank = build_word_bank_in_fresh_process("activate", [Speaker("en-us", "m3", 50, 50, 175)], (),
                                            seed=0)
    word = bank.triggers[0][0]
    word = 0.3 * word / np.abs(word).max()
    clip = 1e-4 * np.random.default_rng(0).standard_normal(16000 * 6).astype(np.float32)
    events = []
    for start in (1.0, 3.5):
        at = int(start * 16000)
        clip[at:at + len(word)] += word
        events.append((start, start + len(word) / 16000))
    # The hand-set model really is a loudness detector on this clip: it fires on the words only.
    probabilities = np.asarray(runs["loud_model"](clip[None]))[0]
    times = ev.detect_events(probabilities, 0.5, 1.5)
    assert len(times) == 2 and all(s <= t <= e + 0.2 for t, (s, e) in zip(times, events)), times
    return dict(clip=clip, events=events, times=times)


def pcm_bytes(waveform):
    return np.round(np.clip(waveform, -1, 1) * 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- in process


def listener_detections(listener, waveform, pieces):
    found, start = [], 0
    for stop in list(pieces) + [len(waveform)]:
        found += listener.feed(waveform[start:stop])
        start = stop
    return found + listener.finish()


@pytest.mark.parametrize("engine,chunk_frames", [("saved_model", 1), ("saved_model", 3),
                                                 ("tflite", 8)])
def test_streamed_detections_equal_whole_clip_detections(runs, engine, chunk_frames):
    from tasks.trigger_word.detect import Detector
    from tasks.trigger_word.listen import Listener

    waveform, rule = runs["waveform"], runs["rule"]
    # Non-streamed: the Keras model on the whole clip at once, then the decision rule.
    expected = ev.detect_events(runs["probabilities"], rule.threshold, rule.refractory_seconds,
                                smoothing_frames=rule.smoothing_frames, min_frames=rule.min_frames)
    assert len(expected) >= 5
    tflite = runs["random"] / "trigger_word.tflite" if engine == "tflite" else None
    listener = Listener(Detector(runs["random"]), chunk_frames, tflite)
    # Uneven pieces, down to a single sample, and a last partial chunk.
    rng = np.random.default_rng(chunk_frames)
    pieces = np.cumsum(rng.integers(1, 3000, 200))
    pieces = [1, 2] + [int(p) for p in pieces if 2 < p < len(waveform)]
    found = listener_detections(listener, waveform, pieces)
    np.testing.assert_allclose([d.time for d in found], expected, atol=1e-6)
    frames = [int(round(t / 0.04)) - 1 for t in expected]
    np.testing.assert_allclose([d.probability for d in found], runs["probabilities"][frames],
                               atol=1e-4)
    # A detection is known at the end of its chunk at the latest (plus the compute time).
    chunk_seconds = listener.chunk_samples / 16000
    assert all(0 <= d.delay < chunk_seconds + 5.0 for d in found)
    assert listener.frames == -(-len(waveform) // FRAME_SAMPLES)


def test_tflite_step_of_another_chunk_is_made_once_from_model_keras(runs):
    from tasks.trigger_word.detect import Detector
    from tasks.trigger_word.listen import Listener, tflite_for_chunk

    assert tflite_for_chunk(runs["random"], 8) == runs["random"] / "trigger_word.tflite"
    assert tflite_for_chunk(runs["random"], 2, make=False) is None
    path = tflite_for_chunk(runs["random"], 2)
    assert path.name == "trigger_word_80ms.tflite" and path.stat().st_size > 1000
    made = path.stat().st_mtime_ns
    assert tflite_for_chunk(runs["random"], 2) == path and path.stat().st_mtime_ns == made
    waveform = runs["waveform"]
    times = {}
    for name, tflite in (("tflite", path), ("saved_model", None)):
        listener = Listener(Detector(runs["random"]), 2, tflite)
        assert listener.chunk_samples == 2 * FRAME_SAMPLES
        times[name] = [d.time for d in listener_detections(listener, waveform, [5000, 77777])]
    assert times["tflite"] == times["saved_model"] and times["tflite"]


def test_pcm_blocks_resample_and_refuse_an_odd_byte_count():
    from tasks.trigger_word.detect import AudioError
    from tasks.trigger_word.listen import pcm_blocks

    def blocks_of(data, rate):
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        with os.fdopen(read, "rb") as stream:
            return [samples for samples, _ in pcm_blocks(stream, rate, read_bytes=999)]

    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)  # 1 s at 8 kHz
    samples = np.concatenate(blocks_of(pcm_bytes(tone), 8000))
    assert abs(len(samples) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(samples[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 2
    same = np.concatenate(blocks_of(pcm_bytes(tone), 16000))
    np.testing.assert_allclose(same, np.round(tone * 32767) / 32768, atol=1e-6)
    with pytest.raises(AudioError, match="odd number of bytes \\(16001\\)"):
        blocks_of(pcm_bytes(tone) + b"\x01", 16000)


def test_ctrl_c_handled_by_another_thread_stops_a_read_of_a_silent_pipe():
    # A real Ctrl-C may land on any thread (TensorFlow starts many); interrupt_main() is that case exactly:
    # the handler is due, but nothing wakes the main thread. A read blocked on the silent pipe would wait for
    # data that never comes.
    import _thread
    import threading

    from tasks.trigger_word.listen import pcm_blocks

    # interrupt_main() does nothing while SIGINT is ignored, which a test process may have inherited.
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    read, write = os.pipe()
    interrupter = threading.Timer(0.3, _thread.interrupt_main)
    rescue = threading.Timer(20.0, os.close, [write])  # ends the read if the interrupt is never handled
    started = time.monotonic()
    interrupter.start()
    rescue.start()
    try:
        with os.fdopen(read, "rb") as stream, pytest.raises(KeyboardInterrupt):
            next(pcm_blocks(stream))
        waited = time.monotonic() - started
    finally:
        rescue.cancel()
        interrupter.cancel()
        try:
            os.close(write)
        except OSError:  # the rescue closed it
            pass
        signal.signal(signal.SIGINT, previous_handler)
    assert waited < 10, f"the read ended only when the pipe was closed ({waited:.1f} s)"


def test_microphone_without_sounddevice_is_a_clear_error(monkeypatch):
    from tasks.trigger_word.detect import AudioError
    from tasks.trigger_word.listen import microphone_blocks

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    with pytest.raises(AudioError, match="pip install sounddevice.*listen -"):
        next(microphone_blocks())


# --------------------------------------------------------------------------- command line


def default_sigint():
    """In the child before exec: SIGINT at its default, as in a terminal, not ignored as a test process
    may have inherited it (an ignored SIGINT stays ignored across exec, and Ctrl-C would never arrive)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def listen(run, *options):
    return [sys.executable, "-m", "tasks.trigger_word", "listen", "--model", str(run), *options]


def test_listen_hears_piped_espeak_words_at_their_times_and_stops_on_ctrl_c(runs, espeak_clip,
                                                                         tmp_path):
    import soundfile

    clip, events = espeak_clip["clip"], espeak_clip["events"]
    process = subprocess.Popen(
        listen(runs["loud"], "-", "--json", "--chime", str(tmp_path / "chimed.wav")),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env=ENVIRONMENT, preexec_fn=default_sigint)
    # The audio goes in and the pipe stays open, as a microphone's would: the detections must
    # come out while the input is still running.
    process.stdin.write(pcm_bytes(clip))
    process.stdin.flush()
    lines = []
    deadline = time.monotonic() + 240
    while len(lines) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
    process.send_signal(signal.SIGINT)
    # Wait with the pipe still open: communicate() closes standard input, and a listener that read the end
    # of input before it handled the signal would stop on that instead.
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    stdout, stderr = process.communicate(timeout=60)
    stderr = stderr.decode()
    assert len(lines) == 2, stderr[-2000:]
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "stopped"
    assert not stdout.strip()  # nothing else was detected
    for detection, (start, end), whole in zip(lines, events, espeak_clip["times"]):
        assert set(detection) == {"time", "probability", "delay"}
        assert start <= detection["time"] <= end + 0.2
        assert detection["time"] == pytest.approx(whole, abs=1e-6)
        assert detection["probability"] >= 0.5 and detection["delay"] >= 0
    # The chimed audio: the heard audio up to the interruption, a chime at each detection
    # (the last one written out in full).
    from tasks.trigger_word.detect import chime

    chimed, rate = soundfile.read(tmp_path / "chimed.wav", dtype="float32")
    assert rate == 16000 and len(chimed) >= int(round(lines[-1]["time"] * 16000)) + len(chime())
    heard = np.round(np.pad(clip, (0, 16000))[:len(chimed)] * 32767) / 32767
    for detection in lines:
        at = int(round(detection["time"] * 16000))
        assert np.abs(chimed[at:at + 800] - heard[at:at + 800]).max() > 0.1
    np.testing.assert_allclose(chimed[:int(0.9 * 16000)], heard[:int(0.9 * 16000)], atol=1e-4)


def test_listen_silence_at_another_rate_then_an_odd_byte(runs):
    # 3 s of faint noise at 44.1 kHz, then one stray byte: no detection, a one-line error.
    quiet = 1e-4 * np.random.default_rng(1).standard_normal(44100 * 3)
    result = subprocess.run(listen(runs["loud"], "-", "--rate", "44100"),
                            input=pcm_bytes(quiet) + b"\x00", capture_output=True, cwd=ROOT,
                            env=ENVIRONMENT, timeout=300)
    stderr = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and result.stdout == b"", result.stderr[-2000:]
    assert stderr[-1].startswith("error: standard input ended after an odd number of bytes")
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("options,message", [
    (["--rate", "0"], "--rate must be a whole number"),
    (["--rate", "44.1k"], "--rate must be a whole number"),
    (["--chunk-ms", "50"], "--chunk-ms must be a positive multiple of 40"),
])
def test_listen_bad_options_give_one_line_errors(runs, options, message):
    result = subprocess.run(listen(runs["loud"], "-", *options), input=b"", capture_output=True,
                            cwd=ROOT, env=ENVIRONMENT, timeout=300)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], lines
