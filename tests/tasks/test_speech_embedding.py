"""Tests of the Keras port of openWakeWord's backbone against the original ONNX files on onnxruntime.

The reference is openWakeWord 0.4.0's own pipeline, run here with
onnxruntime on the files the installed package ships: ``melspectrogram.onnx``
on one clip at a time, ``x / 10 + 2``, windows of 76 frames every 8,
``embedding_model.onnx``. Tolerances: features within 1e-3 (they lie between
about 4 and 13; float32 dB near the floors differ in the last bits), embeddings
within 1e-3 + 1e-4 x |reference| (they reach about 50).

The comparisons are skipped when onnx, onnxruntime or the openwakeword package
(requirements-data.txt, installed with --no-deps) are missing; nothing is
downloaded.
"""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import keras

from tasks.trigger_word import speech_embedding as se
from tasks.trigger_word.speech_embedding import (
    OpenWakeWordMelSpectrogram,
    SpeechEmbedding,
    find_onnx_model,
    load_speech_embedding_weights,
    speech_embedding_backbone,
)
from tests.harness import run_layer_test

ROOT = Path(__file__).resolve().parents[2]
HAVE_BACKBONE = (importlib.util.find_spec("openwakeword") is not None
                 and importlib.util.find_spec("onnx") is not None)
needs_backbone = pytest.mark.skipif(
    not HAVE_BACKBONE, reason="needs onnx and openWakeWord's files: pip install onnx && "
                              "pip install --no-deps openwakeword==0.4.0 (make test-openwakeword)")
needs_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime, the reference")


def random_audio(clips, seconds, seed=0):
    """Full-scale uniform noise at int16 scale."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (clips, int(seconds * 16000))) * 32767).astype(np.int16)


def speech_audio(seconds=2.0):
    """eSpeak saying a sentence, with silence before and after, at int16 scale."""
    from data.trigger_word.speech_engine import EspeakEngine
    from data.trigger_word.voices import Speaker, shipped_variants

    speech = EspeakEngine.for_this_process().synthesize(
        "okay computer, please activate the lights", Speaker("en-us", shipped_variants()[0], 50, 50, 170))
    clip = np.zeros(int(seconds * 16000), np.float32)
    speech = speech[:len(clip) - 4000]
    clip[2000:2000 + len(speech)] = 0.5 * speech / max(np.abs(speech).max(), 1e-6)
    return (clip * 32767).astype(np.int16)[None]


def onnx_pipeline(waveforms_int16):
    """openWakeWord's features and embeddings, clip by clip, on onnxruntime."""
    import onnxruntime

    mel_session = onnxruntime.InferenceSession(find_onnx_model(se.MEL_FILE), providers=["CPUExecutionProvider"])
    embedding_session = onnxruntime.InferenceSession(find_onnx_model(se.EMBEDDING_FILE),
                                                     providers=["CPUExecutionProvider"])
    features, embeddings = [], []
    for clip in waveforms_int16:
        mel = np.squeeze(mel_session.run(None, {"input": clip[None].astype(np.float32)})[0]) / 10 + 2
        windows = [mel[start:start + 76] for start in range(0, len(mel), 8) if len(mel[start:start + 76]) == 76]
        batch = np.stack(windows)[..., None].astype(np.float32)
        features.append(mel)
        embeddings.append(embedding_session.run(None, {"input_1": batch})[0].reshape(len(windows), 96))
    return np.stack(features), np.stack(embeddings)


# --------------------------------------------------------------------------- the shared layer checks


def test_mel_spectrogram_layer_harness():
    run_layer_test(OpenWakeWordMelSpectrogram, dict(waveform_scale=100.0, top_db=60.0),
                   np.random.default_rng(0).uniform(-1, 1, (2, 1600)).astype("float32"),
                   expected_output_shape=(2, 7, 32), expected_output_dtype="float32",
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=2,
                   run_training_check=False, atol=1e-4, rtol=1e-5)


def test_speech_embedding_layer_harness():
    run_layer_test(SpeechEmbedding, {}, np.random.default_rng(0).normal(8, 1, (2, 84, 32)).astype("float32"),
                   expected_output_shape=(2, 2, 96), expected_output_dtype="float32",
                   expected_num_trainable_weights=1 + 2 + 2 * 18 + 1, expected_num_non_trainable_weights=2,
                   atol=1e-4, rtol=1e-4)


def test_arguments_and_shapes_are_checked():
    with pytest.raises(ValueError, match="waveform_scale"):
        OpenWakeWordMelSpectrogram(waveform_scale=0)
    with pytest.raises(ValueError, match="top_db"):
        OpenWakeWordMelSpectrogram(top_db=-1.0)
    with pytest.raises(ValueError, match="at least 512 samples"):
        OpenWakeWordMelSpectrogram()(np.zeros((1, 400), "float32"))
    with pytest.raises(ValueError, match="mel features"):
        SpeechEmbedding()(np.zeros((1, 80, 40), "float32"))
    with pytest.raises(ValueError, match="at least 76 frames"):
        SpeechEmbedding()(np.zeros((1, 60, 32), "float32"))
    with pytest.raises(ValueError, match="SpeechEmbedding layer"):
        load_speech_embedding_weights(keras.layers.Dense(3))


def test_embedding_grid_follows_the_samples():
    # 12512 samples are the first embedding's window, then one more every 1280.
    for samples, count in ((12512, 1), (12511 + 1280, 1), (12512 + 1280, 2), (16000 * 2, 16)):
        features = OpenWakeWordMelSpectrogram().compute_output_shape((1, samples))
        assert SpeechEmbedding().compute_output_shape(features)[1] == count
        assert SpeechEmbedding()(np.zeros(features, "float32")).shape[1] == count


def test_missing_files_name_the_install_command(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="pip install"):
        find_onnx_model(se.EMBEDDING_FILE, tmp_path)
    monkeypatch.setattr(se.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="not installed.*pip install"):
        find_onnx_model(se.EMBEDDING_FILE)


# --------------------------------------------------------------------------- against the ONNX files


@needs_backbone
def test_mel_weights_are_the_files_initializers():
    """The front end's weights come from its formula; they equal what the file holds."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_model_from_string(find_onnx_model(se.MEL_FILE)).graph
    stored = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    real, imaginary = se.dft_kernels(512, 400)
    np.testing.assert_allclose(real, stored["0.stft.conv_real.weight"][:, 0, :].T, atol=1e-6)
    np.testing.assert_allclose(imaginary, stored["0.stft.conv_imag.weight"][:, 0, :].T, atol=1e-6)
    layer = OpenWakeWordMelSpectrogram()
    layer.build((None, 16000))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mel_matrix), stored["1.melW"], atol=1e-7)


@needs_backbone
@needs_onnxruntime
@pytest.mark.parametrize("kind", ["random", "speech"])
def test_features_and_embeddings_match_onnxruntime(kind):
    audio = random_audio(2, 2.0) if kind == "random" else speech_audio()
    features, embeddings = onnx_pipeline(audio)
    waveforms = audio.astype(np.float32) / 32767
    ours = keras.ops.convert_to_numpy(OpenWakeWordMelSpectrogram()(waveforms))
    np.testing.assert_allclose(ours, features, atol=1e-3, rtol=0)
    backbone = speech_embedding_backbone()
    got = keras.ops.convert_to_numpy(backbone(waveforms))
    assert got.shape == embeddings.shape == (len(audio), 16, 96)
    np.testing.assert_allclose(got, embeddings, atol=1e-3, rtol=1e-4)
    # Not a trivial agreement: the embeddings differ between frames and clips.
    assert np.abs(embeddings).max() > 5 and np.std(embeddings, axis=1).mean() > 0.1


@needs_backbone
@needs_onnxruntime
def test_embeddings_of_the_onnx_features_match():
    """The network alone, fed the file's own features: the port of the convolutions, apart from the front end."""
    features, embeddings = onnx_pipeline(random_audio(1, 1.5, seed=3))
    layer = load_speech_embedding_weights(SpeechEmbedding())
    got = keras.ops.convert_to_numpy(layer(features.astype(np.float32)))
    np.testing.assert_allclose(got, embeddings, atol=1e-3, rtol=1e-4)


@needs_backbone
def test_weights_read_from_a_wheel_equal_the_installed_files(tmp_path):
    wheel = tmp_path / "openwakeword-0.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("openwakeword/resources/models/embedding_model.onnx", find_onnx_model(se.EMBEDDING_FILE))
    from_wheel = load_speech_embedding_weights(SpeechEmbedding(), wheel)
    installed = load_speech_embedding_weights(SpeechEmbedding())
    for a, b in zip(from_wheel.get_weights(), installed.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Random weights differ from the file's: loading did change them.
    keras.utils.set_random_seed(0)
    fresh = SpeechEmbedding()
    fresh.build((None, None, 32))
    assert not np.allclose(fresh.get_weights()[0], installed.get_weights()[0])


@needs_backbone
@pytest.mark.e2e
def test_saved_model_runs_without_onnx(tmp_path):
    """The exported backbone reloads in a fresh process where onnx and onnxruntime cannot be imported."""
    backbone = speech_embedding_backbone()
    waveforms = random_audio(1, 1.0, seed=5).astype(np.float32) / 32767
    expected = keras.ops.convert_to_numpy(backbone(waveforms))
    backbone.export(str(tmp_path / "saved_model"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "waveforms.npy", waveforms)
    script = (
        "import sys, json, numpy as np\n"
        "sys.modules['onnx'] = None; sys.modules['onnxruntime'] = None; sys.modules['openwakeword'] = None\n"
        "import tensorflow as tf\n"
        f"loaded = tf.saved_model.load({str(tmp_path / 'saved_model')!r})\n"
        f"out = loaded.serve(tf.constant(np.load({str(tmp_path / 'waveforms.npy')!r}))).numpy()\n"
        "print(json.dumps(out.tolist()))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.array(json.loads(result.stdout.strip().splitlines()[-1])), expected,
                               atol=1e-4, rtol=1e-5)


# --------------------------------------------------------------------------- the bench's use of it


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_trigger_word", ROOT / "bench" / "trigger_word.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_head_windows_line_up_with_the_audio():
    bench = _bench_module()
    # 2 s: 16 embeddings, so one 16-embedding window, whose audio ends at 15 x 1280 + 12512 = 31712 samples.
    ends = bench.oww_window_end_seconds(16)
    np.testing.assert_allclose(ends, [31712 / 16000])
    # On the 40 ms grid (50 frames for 32000 samples) only the last frame (ending at 32000) has seen it.
    frames = bench.oww_frame_probabilities(np.array([[0.7]], np.float32), 32000)
    assert frames.shape == (1, 50)
    np.testing.assert_array_equal(frames[0, :49], 0)
    assert frames[0, 49] == np.float32(0.7)
    # 3 s: windows end at 31712 + 1280 k; frame t (ending at 640 (t + 1)) holds the latest one.
    probabilities = np.arange(1, 13, dtype=np.float32)[None] / 100
    frames = bench.oww_frame_probabilities(probabilities, 48000)
    for t in range(75):
        done = [k for k in range(12) if 31712 + 1280 * k <= 640 * (t + 1)]
        assert frames[0, t] == (probabilities[0, done[-1]] if done else 0)


def test_bench_labels_mark_the_word_end():
    bench = _bench_module()
    ends = np.array([0.5, 0.7, 1.0, 1.2, 1.3, 1.4, 2.0, 2.5])
    labels = bench.oww_labels(ends, [(0.6, 1.0)])
    np.testing.assert_array_equal(labels, [0, -1, 1, 1, 1, -1, -1, 0])
