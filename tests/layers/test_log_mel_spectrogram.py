import keras
import librosa
import numpy as np
import pytest
from keras import ops

from layers import LogMelSpectrogram
from layers.log_mel_spectrogram import mel_filterbank
from tests.harness import run_layer_test


def waveform(num_samples=4000, batch=2, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=(batch, num_samples)).astype("float32")


def test_harness():
    run_layer_test(
        LogMelSpectrogram,
        {"num_mel_bins": 20, "center": True},
        waveform(),
        expected_output_shape=(2, 1 + 4000 // 160, 20),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "mel_scale, mel_norm, lower, upper",
    [("slaney", "slaney", 0.0, None), ("htk", None, 20.0, 7600.0), ("slaney", None, 125.0, 3800.0)],
)
def test_filterbank_matches_librosa(mel_scale, mel_norm, lower, upper):
    ours = mel_filterbank(16000, 512, 40, lower, upper or 8000.0, mel_scale, mel_norm)
    theirs = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=40, fmin=lower, fmax=upper, htk=mel_scale == "htk", norm=mel_norm,
        dtype=np.float64,
    )
    np.testing.assert_allclose(ours, theirs.T, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"center": True},
        {"center": True, "pad_mode": "reflect", "mel_scale": "htk", "mel_norm": None, "num_mel_bins": 64},
        {"center": True, "sample_rate": 8000, "frame_length": 200, "frame_step": 80, "fft_length": 256,
         "lower_edge_hertz": 50.0, "upper_edge_hertz": 3500.0, "power": 1.0},
    ],
)
def test_matches_librosa_melspectrogram(kwargs):
    layer = LogMelSpectrogram(**kwargs)
    x = waveform(num_samples=5000)
    actual = np.exp(ops.convert_to_numpy(layer(x))) - layer.log_offset
    for row in range(len(x)):
        expected = librosa.feature.melspectrogram(
            y=x[row].astype(np.float64),
            sr=layer.sample_rate,
            n_fft=layer.fft_length,
            hop_length=layer.frame_step,
            win_length=layer.frame_length,
            window=layer.window,
            center=True,
            pad_mode=layer.pad_mode,
            power=layer.power,
            n_mels=layer.num_mel_bins,
            fmin=layer.lower_edge_hertz,
            fmax=layer.upper_edge_hertz,
            htk=layer.mel_scale == "htk",
            norm=layer.mel_norm,
        ).T
        assert actual[row].shape == expected.shape
        # exp(log(M + 1e-6)) - 1e-6 loses ~1e-7 absolute in float32; mel bands sit far above that.
        np.testing.assert_allclose(actual[row], expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_streaming_mode_matches_librosa_with_shifted_framing():
    layer = LogMelSpectrogram()
    x = waveform(num_samples=4000, batch=1)
    actual = np.exp(ops.convert_to_numpy(layer(x))[0]) - layer.log_offset
    offset = (512 - 400) // 2
    expected = librosa.feature.melspectrogram(
        y=np.pad(x[0].astype(np.float64), (offset, offset)),
        sr=16000, n_fft=512, hop_length=160, win_length=400, center=False, n_mels=40,
    ).T
    assert actual.shape == expected.shape == (1 + (4000 - 400) // 160, 40)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_tflite_conversion():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite conversion needs the TensorFlow backend")
    import tensorflow as tf

    inputs = keras.Input(shape=(4000,), batch_size=1)
    model = keras.Model(inputs, LogMelSpectrogram(num_mel_bins=16)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    x = waveform(batch=1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    actual = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(actual, ops.convert_to_numpy(model(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_mel_bins": 0}, "num_mel_bins"),
        ({"sample_rate": -16000}, "sample_rate"),
        ({"upper_edge_hertz": 9000.0}, "upper_edge_hertz"),
        ({"lower_edge_hertz": 4000.0, "upper_edge_hertz": 3000.0}, "lower_edge_hertz"),
        ({"mel_scale": "bark"}, "mel_scale"),
        ({"mel_norm": "l2"}, "mel_norm"),
        ({"frame_step": 0}, "frame_step"),
        ({"fft_length": 256}, "fft_length"),
        ({"window": "blackman"}, "window"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogMelSpectrogram(**kwargs)
