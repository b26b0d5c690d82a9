"""Tests of the trigger-word task: models, streaming equivalence, detection, exports, CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras
import tensorflow as tf

from tasks.trigger_word import evaluate as ev
from tasks.trigger_word.model import (
    FRAME_SAMPLES,
    TriggerWordModel,
    build_model,
    num_output_frames,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(units=8, num_layers=2, conv_filters=6, conv_kernel=5, dropout=0.0)


def tiny_streaming_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = build_model("streaming", **TINY)
    # Non-trivial batch-norm statistics, so the test covers them too.
    rng = np.random.default_rng(seed)
    for layer in [model.feature_norm, model.conv_norm] + model.recurrent_norm:
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                           rng.normal(0, 1, mean.shape) + (5 if layer is model.feature_norm else 0),
                           rng.uniform(0.5, 4, variance.shape)])
    return model


def speech_like(num_samples, seed=0):
    rng = np.random.default_rng(seed)
    time = np.arange(num_samples) / 16000
    tone = np.sin(2 * np.pi * 300 * time * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * time)))
    return (0.3 * tone * (np.sin(2 * np.pi * 1.5 * time) > 0) + 0.01 * rng.standard_normal(
        num_samples)).astype(np.float32)


# --------------------------------------------------------------------------- models


def test_parameter_counts_course_and_streaming():
    course = build_model("course")
    # Worked out by hand: feature BN 4*101; Conv1D 101*15*196 + 196; BN 4*196;
    # GRU(128) on 196 inputs 3*(196*128 + 128*128 + 2*128); BN 4*128;
    # GRU(128) 3*(2*128*128 + 2*128); BN 4*128; Dense 128 + 1.
    expected = (4 * 101 + 101 * 15 * 196 + 196 + 4 * 196 + 3 * (196 * 128 + 128 * 128 + 256)
                + 512 + 3 * (2 * 128 * 128 + 256) + 512 + 129)
    assert course.count_params() == expected == 523_733
    assert build_model("streaming").count_params() <= course.count_params()


def test_output_frames_and_keras_round_trip(tmp_path):
    model = tiny_streaming_model()
    waveform = speech_like(16000 * 3 + 100)[None]
    probabilities = np.asarray(model(waveform))
    assert probabilities.shape == (1, num_output_frames(16000 * 3 + 100)) == (1, 76)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(restored(waveform)), probabilities, atol=1e-6)


def test_frame_loss_equals_binary_crossentropy_and_weights_frames():
    from tasks.trigger_word.model import frame_binary_crossentropy

    rng = np.random.default_rng(0)
    labels = (rng.random((3, 20)) > 0.8).astype(np.float32)
    probabilities = rng.uniform(0.05, 0.95, (3, 20)).astype(np.float32)
    per_frame = np.asarray(frame_binary_crossentropy(labels, probabilities))
    by_hand = -(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
    np.testing.assert_allclose(per_frame, by_hand, rtol=1e-4)
    unweighted = float(keras.losses.BinaryCrossentropy()(labels, probabilities))

    class FrameLoss(keras.losses.Loss):  # what compile(loss=function) wraps the function in
        def call(self, y_true, y_pred):
            return frame_binary_crossentropy(y_true, y_pred)

    loss = FrameLoss()
    np.testing.assert_allclose(float(loss(labels, probabilities)), unweighted, rtol=1e-5)
    weights = np.ones_like(labels)
    weights[:, :5] = 4.0
    np.testing.assert_allclose(float(loss(labels, probabilities, sample_weight=weights)),
                               np.mean(by_hand * weights), rtol=1e-4)


def test_invalid_model_arguments():
    with pytest.raises(ValueError, match="architecture"):
        TriggerWordModel(architecture="bidirectional")
    with pytest.raises(ValueError, match="units"):
        TriggerWordModel(units=0)
    with pytest.raises(ValueError, match="dropout"):
        TriggerWordModel(dropout=1.0)
    with pytest.raises(ValueError, match="streaming"):
        build_model("course", **TINY).initial_stream_state()


def test_streaming_front_end_matches_librosa():
    import librosa

    front_end = build_model("streaming", **TINY).front_end
    waveform = speech_like(4000)
    ours = np.exp(np.asarray(front_end(waveform[None]))[0]) - 1e-6
    # The layer's window sits at the start of its frame, librosa's in the middle of its
    # n_fft frame; padding by 56 aligns them (the power does not depend on the shift).
    reference = librosa.feature.melspectrogram(
        y=np.pad(waveform, (56, 56)), sr=16000, n_fft=512, hop_length=160, win_length=400,
        window="hann", center=False, power=2.0, n_mels=40, fmin=20.0, htk=True, norm=None)
    assert ours.shape == (23, 40)
    np.testing.assert_allclose(ours, reference.T[:23], rtol=1e-3, atol=1e-4 * reference.max())


@pytest.mark.parametrize("chunk_frames", [1, 3, 8])
def test_streaming_equals_whole_clip(chunk_frames):
    model = tiny_streaming_model(seed=chunk_frames)
    waveform = speech_like(FRAME_SAMPLES * 20 + 123, seed=chunk_frames)
    whole = np.asarray(model(waveform[None]))[0]
    states = model.initial_stream_state(1)
    chunk = chunk_frames * FRAME_SAMPLES
    padded = np.zeros(-(-len(waveform) // chunk) * chunk, np.float32)
    padded[:len(waveform)] = waveform
    streamed = []
    for start in range(0, len(padded), chunk):
        probabilities, states = model.stream_step(padded[None, start:start + chunk], states)
        streamed.append(np.asarray(probabilities)[0])
    streamed = np.concatenate(streamed)[:len(whole)]
    np.testing.assert_allclose(streamed, whole, atol=2e-6)
    assert np.ptp(whole) > 1e-3, "the test needs probabilities that vary"


# --------------------------------------------------------------------------- detection


def test_detect_events_rising_edges_and_refractory():
    frames = np.zeros(100, np.float32)
    frames[10:15] = 0.9  # one event, detected at the end of frame 10: 11 * 0.04 s
    frames[17:19] = 0.9  # re-rise 0.28 s later: inside the 0.75 s refractory period
    frames[60:62] = 0.7  # a second event
    frames[80] = 0.4  # below the threshold
    assert ev.detect_events(frames, 0.5, 0.75) == [0.44, 2.44]
    assert ev.detect_events(frames, 0.5, 0.0) == [0.44, 0.72, 2.44]
    # Piecewise with carried state gives the same answer.
    first, state = ev.detect_events(frames[:16], 0.5, 0.75, state=ev.initial_detection_state())
    second, _ = ev.detect_events(frames[16:], 0.5, 0.75, start_frame=16, state=state)
    assert first + second == [0.44, 2.44]


def test_smoothing_and_persistence_reject_spikes_keep_plateaus():
    frames = np.zeros(100, np.float32)
    frames[10] = 1.0  # a one-frame spike: a typical false accept
    frames[30:32] = 0.9  # a two-frame blip
    frames[60:69] = 0.9  # a 9-frame plateau like a true trigger's label window
    assert ev.detect_events(frames, 0.5, 0.75) == [0.44, 1.24, 2.44]
    # Mean of the last 3 frames: the spike reaches 1/3, the blip 0.6 (from frame 31),
    # the plateau 0.6 from frame 61 -> detections at the end of frames 31 and 61.
    np.testing.assert_allclose(ev.smooth_probabilities(frames, 3)[[10, 31, 61, 62]],
                               [1 / 3, 0.6, 0.6, 0.9], rtol=1e-6)
    assert ev.detect_events(frames, 0.5, 0.75, smoothing_frames=3) == [1.28, 2.48]
    # Persistence: 3 frames in a row above 0.5 -> only the plateau, at its third frame.
    assert ev.detect_events(frames, 0.5, 0.75, min_frames=3) == [2.52]
    # Both: smoothed values >= 0.5 on frames 31-32 only (2 frames) and 61-70 -> fires at 63.
    assert ev.detect_events(frames, 0.5, 0.75, smoothing_frames=3, min_frames=3) == [2.56]
    with pytest.raises(ValueError, match="min_frames"):
        ev.DecisionRule(0.5, 0.75, 1, 0)


@pytest.mark.parametrize("smoothing_frames,min_frames", [(1, 1), (3, 1), (1, 3), (5, 2)])
def test_detection_rule_streams_batches_and_matches_tensorflow(smoothing_frames, min_frames):
    rng = np.random.default_rng(smoothing_frames * 10 + min_frames)
    # Smooth random tracks with plateaus and spikes, so every rule fires sometimes.
    probabilities = np.clip(np.repeat(rng.random((6, 40)), 5, axis=1) ** 2
                            + (rng.random((6, 200)) > 0.97), 0, 1).astype(np.float32)
    rule = ev.DecisionRule(0.6, 0.3, smoothing_frames, min_frames)
    whole = [ev.detect_events(row, 0.6, 0.3, smoothing_frames=smoothing_frames,
                              min_frames=min_frames) for row in probabilities]
    assert sum(map(len, whole)) >= 6
    assert ev.detect_events_batch(probabilities, rule) == whole
    # Piecewise over uneven pieces with carried state: the same times.
    for row, expected in zip(probabilities, whole):
        times, state, start = [], ev.initial_detection_state(smoothing_frames, min_frames), 0
        for stop in (1, 2, 37, 90, 91, 200):
            found, state = ev.detect_events(row[start:stop], 0.6, 0.3, start_frame=start,
                                            state=state, smoothing_frames=smoothing_frames,
                                            min_frames=min_frames)
            times += found
            start = stop
        assert times == expected
    padded = ev.detect_events_tf(probabilities, 0.6, 0.3, smoothing_frames=smoothing_frames,
                                 min_frames=min_frames).numpy()
    for detections, expected in zip(padded, whole):
        np.testing.assert_allclose(detections[detections >= 0], expected, atol=1e-5)


def test_choose_rule_prefers_smoothing_when_spikes_are_false_accepts():
    class Clips:
        def __init__(self, events, seconds):
            self.events, self.seconds = events, seconds

        def __len__(self):
            return len(self.events)

    positive = np.zeros((4, 250), np.float32)
    for row in range(4):
        positive[row, 100:109] = 0.95  # a word ending at 3.9 s: labels from 4.0 s
    negative = np.zeros((4, 250), np.float32)
    negative[:, 50] = 1.0  # one-frame spikes in negative-only audio
    clips = Clips([[(3.3, 3.9)]] * 4, 40.0)
    rule, table = ev.choose_rule(positive, clips, negative, Clips([[]] * 4, 40.0), 0.5, 0.75)
    assert (rule.smoothing_frames, rule.min_frames) != (1, 1)
    assert len(table) == len(ev.SMOOTHING_CHOICES) * len(ev.MIN_FRAMES_CHOICES) * len(ev.THRESHOLDS)
    detections = ev.detect_events_batch(np.concatenate([positive, negative]), rule)
    assert all(len(d) == 1 for d in detections[:4]) and not any(detections[4:])
    # With the plain rule no threshold rejects the 1.0 spikes and keeps the 0.95 plateaus:
    # the fallback (fewest false accepts, then recall) still fires on every spike.
    plain, _ = ev.choose_rule(positive, clips, negative, Clips([[]] * 4, 40.0), 0.5, 0.75, (1,), (1,))
    assert (plain.smoothing_frames, plain.min_frames) == (1, 1)
    assert all(len(d) == 1 for d in ev.detect_events_batch(negative, plain))


def test_match_events():
    triggers = [(1.0, 1.6), (5.0, 5.7)]
    # 1.9 hits the first word, 2.5 is within 1 s of its end but the word is used,
    # 7.0 is more than 1 s after the second word ends.
    hits, false_accepts, delays = ev.match_events([1.9, 2.5, 7.0], triggers)
    assert (hits, false_accepts) == (1, 2)
    np.testing.assert_allclose(delays, [0.3])
    assert ev.match_events([0.9], triggers)[:2] == (0, 1)  # before the word starts


# --------------------------------------------------------------------------- exports and CLI


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tasks.trigger_word.export import export_saved_model, export_tflite

    directory = tmp_path_factory.mktemp("trigger_word_export")
    model = tiny_streaming_model(seed=3)
    # A threshold that the untrained model's probabilities cross sometimes.
    waveforms = np.stack([speech_like(16000 * 4, seed=s) for s in range(3)])
    probabilities = np.asarray(model(waveforms))
    threshold = float(np.quantile(probabilities, 0.8))
    export_saved_model(model, directory / "saved_model", threshold, 0.3)
    export_tflite(model, directory / "model.tflite", chunk_samples=8 * FRAME_SAMPLES)
    return dict(model=model, directory=directory, waveforms=waveforms,
                probabilities=probabilities, threshold=threshold)


@pytest.mark.e2e
def test_saved_model_in_fresh_process_matches_keras(exported):
    directory = exported["directory"]
    np.save(directory / "waveforms.npy", exported["waveforms"])
    script = (
        "import numpy as np, tensorflow as tf, json, sys\n"
        f"loaded = tf.saved_model.load({str(directory / 'saved_model')!r})\n"
        f"w = np.load({str(directory / 'waveforms.npy')!r})\n"
        "out = loaded.signatures['serving_default'](waveform=tf.constant(w))\n"
        "np.save(sys.argv[1], out['probabilities'].numpy())\n"
        "print(json.dumps(out['detections'].numpy().tolist()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(directory / "p.npy")],
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.load(directory / "p.npy"), exported["probabilities"], atol=1e-5)
    detections = json.loads(result.stdout.strip().splitlines()[-1])
    for row, padded in zip(exported["probabilities"], detections):
        expected = ev.detect_events(row, exported["threshold"], 0.3)
        np.testing.assert_allclose([t for t in padded if t >= 0], expected, atol=1e-5)


@pytest.mark.e2e
def test_demo_rows_name_the_clips_and_give_the_detections(exported):
    from tasks.common.run_dir import RunDir
    from tasks.trigger_word.train import query_saved_model

    run = RunDir.open(exported["directory"] / "saved_model", "trigger_word")
    clips = {f"clip {i}": waveform for i, waveform in enumerate(exported["waveforms"])}
    rows = run.verify_saved_model(query_saved_model, clips)
    assert [row["input"] for row in rows] == list(clips)
    for row, probabilities in zip(rows, exported["probabilities"]):
        times = ev.detect_events(probabilities, exported["threshold"], 0.3)
        expected = "detections at " + ", ".join(f"{t:.2f} s" for t in times) if times else "no detections"
        assert row["output"] == expected


@pytest.mark.e2e
def test_saved_model_stream_step_and_tflite_match(exported):
    from tasks.trigger_word.export import TFLiteStreamer, initial_states

    loaded = tf.saved_model.load(str(exported["directory"] / "saved_model"))
    waveform = exported["waveforms"][1]
    states = initial_states(loaded)
    streamed = []
    for start in range(0, len(waveform), 5 * FRAME_SAMPLES):
        chunk = waveform[start:start + 5 * FRAME_SAMPLES]
        out = loaded.signatures["stream_step"](chunk=chunk[None], **states)
        states = {k: out[k].numpy() for k in states}
        streamed.append(out["probabilities"].numpy()[0])
    np.testing.assert_allclose(np.concatenate(streamed), exported["probabilities"][1], atol=1e-5)
    streamer = TFLiteStreamer(exported["directory"] / "model.tflite")
    for index, waveform in enumerate(exported["waveforms"]):
        tflite = streamer.probabilities(waveform)
        np.testing.assert_allclose(tflite, exported["probabilities"][index], atol=1e-4)
        assert (ev.detect_events(tflite, exported["threshold"], 0.3)
                == ev.detect_events(exported["probabilities"][index], exported["threshold"], 0.3))


@pytest.mark.e2e
def test_detect_cli_files_errors_json_chime_plot(exported, tmp_path):
    import soundfile

    # 44.1 kHz stereo, 16 kHz mono long enough for several read blocks, and bad files.
    stereo = np.stack([exported["waveforms"][0]] * 2, axis=1)
    import soxr

    soundfile.write(tmp_path / "stereo44.wav", soxr.resample(stereo, 16000, 44100), 44100)
    long = np.concatenate([exported["waveforms"][i % 3] for i in range(7)])  # 28 s
    soundfile.write(tmp_path / "long.flac", long, 16000)
    (tmp_path / "notes.txt").write_text("this is not audio")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    files = [str(tmp_path / n) for n in ("stereo44.wav", "notes.txt", "long.flac", "empty.wav",
                                         "missing.wav")]
    result = subprocess.run(
        [sys.executable, "-m", "tasks.trigger_word", "detect", "--model",
         str(exported["directory"]), *files, "--json", "--chime", str(tmp_path / "chime.wav"),
         "--plot", str(tmp_path / "plot.png")],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1  # some files failed, the others were processed
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and all(len(line) < 300 for line in errors)
    assert any("notes.txt" in e for e in errors) and any("empty.wav" in e for e in errors)
    assert any("missing.wav" in e for e in errors)
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(results) == {files[0], files[2]}
    # The long file streamed block by block equals the whole-file detections.
    probabilities = np.asarray(exported["model"](long[None]))[0]
    np.testing.assert_allclose(results[files[2]],
                               ev.detect_events(probabilities, exported["threshold"], 0.3),
                               atol=1e-4)
    chimed, rate = soundfile.read(tmp_path / "chime_long.wav")
    assert rate == 16000 and len(chimed) == len(long)
    if results[files[2]]:
        at = int(results[files[2]][0] * 16000)
        assert np.abs(chimed[at:at + 800] - long[at:at + 800]).max() > 0.05
    assert (tmp_path / "plot_stereo44.png").stat().st_size > 5000


@pytest.mark.slow
def test_demo_trains_evaluates_and_exports_through_the_runner(tmp_path):
    """`python -m tasks.trigger_word demo`: data, fit, metrics, SavedModel, TFLite."""
    result = subprocess.run(
        [sys.executable, "-m", "tasks.trigger_word", "demo", "--out", str(tmp_path / "run"),
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("test_recall", "test_precision", "test_false_accepts_per_hour", "threshold"):
        assert key in metrics
    assert (tmp_path / "run" / "saved_model" / "saved_model.pb").exists()
    assert (tmp_path / "run" / "trigger_word.tflite").stat().st_size > 10_000


# --------------------------------------------------------------------------- robustness options


def test_spec_augment_layer_harness():
    from tasks.trigger_word.model import SpecAugment
    from tests.harness import run_layer_test

    run_layer_test(SpecAugment, dict(time_masks=2, time_mask_frames=4, frequency_masks=1,
                                     frequency_mask_bins=3, seed=1),
                   np.random.default_rng(0).normal(size=(2, 20, 8)).astype("float32"),
                   expected_output_shape=(2, 20, 8), expected_num_trainable_weights=0,
                   run_saved_model_check=False)


def test_spec_augment_masks_whole_bands_in_training_only():
    from tasks.trigger_word.model import SpecAugment

    layer = SpecAugment(time_masks=2, time_mask_frames=5, frequency_masks=2, frequency_mask_bins=4, seed=3)
    features = np.random.default_rng(0).uniform(1, 2, (16, 60, 40)).astype("float32")
    np.testing.assert_array_equal(layer(features, training=False), features)
    masked = np.asarray(layer(features, training=True))
    zero = masked == 0
    kept = ~zero
    np.testing.assert_array_equal(masked[kept], features[kept])
    frames_masked = zero.all(axis=2)  # (batch, frames): whole frames set to 0
    bins_masked = zero.all(axis=1)  # (batch, bins)
    # Every zero belongs to a masked frame or a masked bin; at most 2 x 5 frames, 2 x 4 bins.
    np.testing.assert_array_equal(zero, frames_masked[:, :, None] | bins_masked[:, None, :])
    assert frames_masked.sum(axis=1).max() <= 10 and bins_masked.sum(axis=1).max() <= 8
    assert frames_masked.any() and bins_masked.any()
    # Masks differ between examples and between calls.
    assert not np.array_equal(frames_masked[0], frames_masked[1]) or not np.array_equal(
        bins_masked[0], bins_masked[1])
    assert not np.array_equal(masked, np.asarray(layer(features, training=True)))
    with pytest.raises(ValueError, match="time_masks"):
        SpecAugment(time_masks=-1)


def test_models_with_spec_augment_round_trip_and_infer_unchanged(tmp_path):
    keras.utils.set_random_seed(0)
    masked = build_model("streaming", spec_augment=(2, 5, 2, 4), **TINY)
    waveform = speech_like(FRAME_SAMPLES * 20)[None]
    # Inference ignores the masks; training passes differ from inference.
    assert masked.get_config()["spec_augment"] == [2, 5, 2, 4]
    inference = np.asarray(masked(waveform, training=False))
    assert not np.allclose(np.asarray(masked(waveform, training=True)), inference)
    # (The training call moved the batch-norm statistics.)
    inference = np.asarray(masked(waveform, training=False))
    path = tmp_path / "masked.keras"
    masked.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(waveform, training=False)), inference, atol=1e-6)
    assert reloaded.feature_masks is not None
    assert TriggerWordModel("streaming", **TINY).feature_masks is None
    with pytest.raises(ValueError, match="spec_augment"):
        TriggerWordModel("streaming", spec_augment=(1, 2))


def test_scene_options_follow_the_config_and_evaluation_clips_do_not():
    from tasks.common.config import ConfigError
    from tasks.trigger_word.config import Config
    from tasks.trigger_word.train import evaluation_scene, training_scene

    config = Config()
    scene = training_scene(config)
    assert scene.room_probability == config.room_probability and scene.augment.pitch_probability == 0.3
    assert training_scene(config.replace(training_scenes=False)) is None
    # Validation and test clips stay the same whatever the training options.
    changed = config.replace(training_scenes=False, room_probability=0.0, speed_probability=0.0,
                             sentence_fraction=0.0)
    assert evaluation_scene(changed) == evaluation_scene(config)
    assert evaluation_scene(config).augment.speed_probability == 0.0
    assert evaluation_scene(config.replace(evaluation_scenes=False)) is None
    with pytest.raises(ConfigError, match="add up"):
        Config(speech_background_fraction=0.5, music_fraction=0.4, household_fraction=0.2)
    with pytest.raises(ConfigError, match="--room-probability"):
        Config(room_probability=1.5)
    with pytest.raises(ConfigError, match="--num-rooms"):
        Config(num_rooms=0)


def test_mined_near_misses_join_the_training_clips_only(monkeypatch):
    import data.trigger_word
    import data.trigger_word.near_misses
    from tasks.common.config import ConfigError
    from tasks.trigger_word import train
    from tasks.trigger_word.config import Config

    picked, made = [], []
    monkeypatch.setattr(data.trigger_word.near_misses, "pick_near_misses",
                        lambda word, count, cache_dir=None: picked.append((word, count)) or
                        ("octave", "actor")[:count])
    monkeypatch.setattr(data.trigger_word, "make_trigger_word_clips",
                        lambda split, num_clips, **options: made.append((split, options)))
    config = Config(mined_near_misses=2)
    for split in ("train", "validation", "test"):
        train.make_clips(config, split, 3)
    assert [options["extra_near_misses"] for _, options in made] == [("octave", "actor"), (), ()]
    assert picked == [("activate", 2)]
    train.make_clips(Config(), "train", 3)
    assert made[-1][1]["extra_near_misses"] == () and len(picked) == 1
    with pytest.raises(ConfigError, match="--mined-near-misses"):
        Config(mined_near_misses=-1)


def test_varied_prosody_is_for_the_training_clips_only(monkeypatch):
    import data.trigger_word
    from tasks.trigger_word import train
    from tasks.trigger_word.config import Config

    made = []
    monkeypatch.setattr(data.trigger_word, "make_trigger_word_clips",
                        lambda split, num_clips, **options: made.append(options["varied_prosody"]))
    for split in ("train", "validation", "test"):
        train.make_clips(Config(varied_prosody=True), split, 3)
    train.make_clips(Config(), "train", 3)
    assert made == [True, False, False, False]


def test_bench_engine_family_adds_up_its_voices():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "trigger_word.py"
    spec = importlib.util.spec_from_file_location("trigger_word_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def voice(words, word_triggers, sentences, sentence_triggers, false_accepts, hours):
        return dict(words_recall=words / word_triggers, words_triggers=word_triggers,
                    sentences_recall=sentences / sentence_triggers, sentences_triggers=sentence_triggers,
                    false_accepts=false_accepts, negative_hours=hours)

    other = {"per_voice": {"flite/awb": voice(1, 3, 2, 7, 1, 0.5), "flite/slt": voice(0, 4, 3, 6, 2, 0.25),
                           "festival/kal_diphone": voice(5, 5, 0, 2, 0, 1.0)}}
    flite = bench.engine_family(other, "flite")
    assert (flite["hits"], flite["triggers"]) == (6, 20)
    assert flite["recall"] == pytest.approx(0.3) and flite["false_accepts_per_hour"] == pytest.approx(4.0)
    festival = bench.engine_family(other, "festival")
    assert (festival["hits"], festival["triggers"], festival["false_accepts_per_hour"]) == (5, 7, 0.0)
