import keras
import librosa
import numpy as np
import pytest
from keras import ops

from layers import Spectrogram
from tests.harness import run_layer_test


def waveform(num_samples=4000, batch=2, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=(batch, num_samples)).astype("float32")


def librosa_power(y, frame_length, frame_step, fft_length, window="hann", power=2.0, center=True, pad_mode="constant"):
    """librosa's spectrogram with our framing: (frames, bins), float64 reference."""
    y = np.asarray(y, np.float64)
    if not center:
        # librosa places the window in the middle of an fft_length frame; padding by
        # that offset on both sides makes its frame t read y[t * step : t * step + frame_length].
        offset = (fft_length - frame_length) // 2
        y = np.pad(y, (offset, fft_length - frame_length - offset))
    spectrum = librosa.stft(
        y,
        n_fft=fft_length,
        hop_length=frame_step,
        win_length=frame_length,
        window=window,
        center=center,
        pad_mode=pad_mode,
    )
    return (np.abs(spectrum) ** power).T


def assert_power_close(actual, expected):
    # 1e-4 relative on every bin; bins a million times below the peak hold only
    # float32 rounding noise of the FFT, hence the tiny absolute floor.
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6 * expected.max())


@pytest.mark.parametrize("center", [False, True])
def test_harness(center):
    x = waveform()
    frames = 1 + 4000 // 160 if center else 1 + (4000 - 400) // 160
    run_layer_test(
        Spectrogram,
        {"frame_length": 400, "frame_step": 160, "fft_length": 512, "center": center},
        x,
        expected_output_shape=(2, frames, 257),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "center, pad_mode, window, power",
    [
        (True, "constant", "hann", 2.0),
        (True, "reflect", "hann", 2.0),
        (True, "constant", "hamming", 1.0),
        (False, "constant", "hann", 2.0),
        (False, "constant", "rectangular", 2.0),
    ],
)
def test_matches_librosa(center, pad_mode, window, power):
    x = waveform(num_samples=3001)
    layer = Spectrogram(
        400, 160, 512, window=window, power=power, log=False, center=center, pad_mode=pad_mode
    )
    actual = ops.convert_to_numpy(layer(x))
    librosa_window = "boxcar" if window == "rectangular" else window
    for row in range(len(x)):
        expected = librosa_power(x[row], 400, 160, 512, librosa_window, power, center, pad_mode)
        assert actual[row].shape == expected.shape
        assert_power_close(actual[row], expected)
    assert layer.compute_output_shape((2, 3001)) == actual.shape


def test_odd_sizes_match_librosa():
    # fft_length - frame_length odd, and frame_step not dividing anything.
    x = waveform(num_samples=1237, batch=1)
    for center in (False, True):
        layer = Spectrogram(frame_length=255, frame_step=97, fft_length=300, log=False, center=center)
        actual = ops.convert_to_numpy(layer(x))[0]
        assert_power_close(actual, librosa_power(x[0], 255, 97, 300, center=center))


def test_log_and_default_fft_length():
    x = waveform()
    layer = Spectrogram(400, 160, log=True, log_offset=1e-3)
    assert layer.fft_length == 512
    power = Spectrogram(400, 160, log=False)(x)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)), np.log(ops.convert_to_numpy(power) + 1e-3), rtol=1e-5, atol=1e-5
    )


def test_streaming_framing_has_no_look_ahead():
    # With center=False the first frames of a prefix equal those of the whole waveform.
    x = waveform(num_samples=4000)
    layer = Spectrogram(400, 160, 512)
    whole = ops.convert_to_numpy(layer(x))
    prefix = ops.convert_to_numpy(layer(x[:, :1200]))
    assert prefix.shape[1] == 1 + (1200 - 400) // 160
    np.testing.assert_allclose(prefix, whole[:, : prefix.shape[1]], rtol=1e-5, atol=1e-5)


def test_variable_length_in_a_model():
    inputs = keras.Input(shape=(None,))
    model = keras.Model(inputs, Spectrogram(400, 160, 512, center=True)(inputs))
    assert model.output_shape == (None, None, 257)
    for num_samples in (800, 1700):
        assert tuple(model(waveform(num_samples)).shape) == (2, 1 + num_samples // 160, 257)


def test_tflite_conversion():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite conversion needs the TensorFlow backend")
    import tensorflow as tf

    inputs = keras.Input(shape=(2000,), batch_size=1)
    model = keras.Model(inputs, Spectrogram(400, 160, 512, center=True, pad_mode="reflect")(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Builtin TFLite ops only (the converter's default): no Flex delegate needed.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    x = waveform(num_samples=2000, batch=1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    actual = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(actual, ops.convert_to_numpy(model(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frame_length": 0, "frame_step": 160}, "frame_length"),
        ({"frame_length": 400, "frame_step": 0}, "frame_step"),
        ({"frame_length": 400, "frame_step": -1}, "frame_step"),
        ({"frame_length": 400, "frame_step": 160, "fft_length": 256}, "fft_length"),
        ({"frame_length": 400, "frame_step": 160, "window": "kaiser"}, "window"),
        ({"frame_length": 400, "frame_step": 160, "power": 0}, "power"),
        ({"frame_length": 400, "frame_step": 160, "log_offset": 0.0}, "log_offset"),
        ({"frame_length": 400, "frame_step": 160, "pad_mode": "edge"}, "pad_mode"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Spectrogram(**kwargs)


def test_too_short_or_misshapen_waveform():
    with pytest.raises(ValueError, match="too short"):
        Spectrogram(400, 160)(np.zeros((1, 399), "float32"))
    with pytest.raises(ValueError, match="batch, samples"):
        Spectrogram(400, 160)(np.zeros((1, 1000, 1), "float32"))
