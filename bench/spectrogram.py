"""Speed of LogMelSpectrogram against librosa on 60 s of 16 kHz audio.

The reference is `log(librosa.feature.melspectrogram(...) + 1e-6)` with the
same settings as the layer (25 ms Hann frames every 10 ms, 512-point FFT, 40
Slaney mel bands, librosa's centred framing); both get the same float32
waveform. The layer runs compiled (tf.function under TensorFlow, jax.jit under
JAX) on a batch of one. Ours and librosa are timed alternately in the same
process and the median of the per-round ratios ours / librosa is printed, for
wall time and for this process's CPU time (steadier when other jobs share the
cores; librosa's FFT is single-threaded, TensorFlow's may use several threads).

    KERAS_BACKEND=tensorflow .venv/bin/python bench/spectrogram.py [--rounds 21]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import librosa  # noqa: E402
import numpy as np  # noqa: E402

from layers import LogMelSpectrogram  # noqa: E402

SAMPLE_RATE, SECONDS = 16000, 60


def compiled_layer(layer, waveform):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        call = tf.function(layer, jit_compile=False)
        x = tf.constant(waveform)
        return lambda: call(x).numpy()
    if backend == "jax":
        import jax

        call = jax.jit(lambda inputs: layer(inputs))
        x = jax.numpy.asarray(waveform)
        return lambda: np.asarray(call(x))
    raise SystemExit(f"bench/spectrogram.py supports tensorflow and jax, not {backend}")


def time_once(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="alternated timing rounds")
    args = parser.parse_args()

    # Speech-like test signal: a few harmonics with a wandering pitch, plus noise.
    rng = np.random.RandomState(0)
    t = np.arange(SAMPLE_RATE * SECONDS) / SAMPLE_RATE
    pitch = 150 + 50 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    waveform = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2 + 0.01 * rng.normal(size=t.shape)
    waveform = waveform.astype("float32")

    layer = LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, frame_length=400, frame_step=160, fft_length=512,
        num_mel_bins=40, center=True,
    )

    def reference():
        mel = librosa.feature.melspectrogram(
            y=waveform, sr=SAMPLE_RATE, n_fft=512, hop_length=160, win_length=400,
            window="hann", center=True, pad_mode="constant", power=2.0, n_mels=40,
        )
        return np.log(mel + 1e-6).T

    ours = compiled_layer(layer, waveform[None])
    expected, actual = reference(), ours()[0]
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    # Where the mel power is far above the 1e-6 offset, float32 FFT rounding stays below 1e-4.
    loud = expected > np.log(1e-3)
    print(f"{SECONDS} s at {SAMPLE_RATE} Hz -> {actual.shape}; max |ours - librosa| on log mel "
          f"(bands above 1e-3): {np.abs(actual - expected)[loud].max():.2e}")

    for _ in range(3):
        ours()
        reference()
    ours_times, reference_times = [], []
    for round_index in range(args.rounds):
        pair = [(ours, ours_times), (reference, reference_times)]
        if round_index % 2:
            pair.reverse()
        for fn, times in pair:
            times.append(time_once(fn))
    wall_ratio = statistics.median(o[0] / r[0] for o, r in zip(ours_times, reference_times))
    cpu_ratio = statistics.median(o[1] / r[1] for o, r in zip(ours_times, reference_times))
    print(
        f"backend {keras.backend.backend()}: LogMelSpectrogram "
        f"{statistics.median(t[0] for t in ours_times) * 1e3:.1f} ms, librosa "
        f"{statistics.median(t[0] for t in reference_times) * 1e3:.1f} ms (medians, wall); "
        f"median ratio ours/librosa: wall {wall_ratio:.3f}, process CPU time {cpu_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
