"""Trigger-word figures: event metrics of both models, streaming speed, TFLite agreement.

    python bench/trigger_word.py [--course-run runs/tw_course] [--streaming-run runs/tw_streaming]

Both run directories come from ``python -m tasks.trigger_word train`` with the
same data settings (the bench reads them from the streaming run's
config.json). For each model it reports recall, precision and false accepts
per hour on the test voices (unseen in training and validation) with the
threshold chosen on validation voices, the median delay from word end to
detection, and the parameter count. For the streaming model it measures the
real-time factor on one CPU thread of the TFLite streaming step (1.28 s
chunks), alternating with the same step run by TensorFlow (the reference), and
checks that TFLite's detections equal the SavedModel's on the test clips.
Results go to the ``## Trigger word`` section of bench/RESULTS.md.

    python bench/trigger_word.py --listen-only --streaming-run RUN [--listen-seconds 120]

measures the ``listen`` command's loop alone (``tasks/trigger_word/listen.py``:
the run's streaming step plus the decision rule with carried state) on one
thread, over audio fed in 20 ms blocks as a pipe from ``arecord`` would give
it: its real-time factor (the loop's time over the audio's length) and the
median delay of a frame's probability (the audio of later frames its chunk
waits for, plus the time the chunk took), for each engine and chunk length,
into the ``## Live listening (trigger word)`` section of bench/RESULTS.md.
The audio is the run's test clips when its config.json can make them, else
speech-like tones; the cost does not depend on what is said.

    python bench/trigger_word.py --other-engines [--runs RUN ...] [--plain-test]

measures each run (default: the streaming run) on speech from other engines
(flite and festival voices, never in training; ``data/trigger_word/held_out_engines.py``)
with the run's own decision rule: recall for the word alone and inside
sentences, false accepts per hour on their near-miss negatives, in all and
per voice, beside the run's eSpeak test figures (and, with ``--plain-test``,
on the plain eSpeak test clips: isolated words over generated noise, no
rooms), into the ``## Trigger word on other speech engines`` section.

    python bench/trigger_word.py --openwakeword-reference --runs RUN [--oww-train-clips 800]

measures openWakeWord's recipe as a reference next to the run's own model:
its frozen backbone (``tasks/trigger_word/speech_embedding.py``: openWakeWord's
mel front end and Google's speech_embedding, weights from the installed
``openwakeword`` package; research use only, see the README) embeds the run's
cached eSpeak training clips, a 64-64 MLP on 16 embeddings (1.28 s) is trained
on them, and both detectors are measured the same way on the run's eSpeak
validation, test and other-engine sets: a decision rule chosen on validation
for each false-accept budget (0.5 first), then recall and false accepts per
hour on the test voices and the other engines, into the
``## Trigger word: openWakeWord's recipe as a reference`` section.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _run_record(row):
    """One compared run of the other-engines bench as JSON: its metrics and each target's rule and figures."""
    return dict(run=row["run"], metrics=row["metrics"], other=row["other"],
                targets={f"{t:g}": dict(rule=entry["rule"].to_dict(), test=entry["test"], other=entry["other"])
                         for t, entry in row["targets"].items()})


def load_run(run_dir):
    import keras

    import tasks.trigger_word.model  # noqa: F401  (registers the model class)

    return keras.models.load_model(Path(run_dir) / "model.keras")


def build_eval_data(config):
    from tasks.trigger_word.train import TriggerWordData, clips_for_minutes, make_clips

    return TriggerWordData(
        train=None, validation=None, train_clips=None,
        validation_clips=make_clips(config, "validation", config.num_validation_clips),
        validation_negative=make_clips(config, "validation", clips_for_minutes(
            config.validation_negative_minutes, config.clip_seconds), True),
        test_clips=make_clips(config, "test", config.num_test_clips),
        test_negative=make_clips(config, "test", clips_for_minutes(
            config.test_negative_minutes, config.clip_seconds), True))


def metrics_for(run_dir, model, data, config):
    """The run's metrics.json when the runner finished it, else evaluated here."""
    from tasks.trigger_word.evaluate import evaluate

    from tasks.trigger_word.evaluate import DecisionRule

    path = Path(run_dir) / "metrics.json"
    if path.exists():
        metrics = json.loads(path.read_text())
        # Runs from before the smoothing/persistence rule are evaluated again.
        if "test_recall" in metrics and "smoothing_frames" in metrics:
            data.rule = DecisionRule(metrics["threshold"], config.refractory_seconds,
                                     metrics["smoothing_frames"], metrics["min_frames"])
            return metrics, "runner metrics.json"
    metrics = evaluate(model, data, config, None)
    return metrics, "evaluated by the bench"


def _history(run_dir):
    path = Path(run_dir) / "checkpoints" / "state.json"
    return json.loads(path.read_text()).get("history", {}) if path.exists() else {}


def timed(function, repeats):
    """(wall seconds, process CPU seconds) of each of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course-run", default="runs/tw_course")
    parser.add_argument("--streaming-run", default="runs/tw_streaming")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds per clip")
    parser.add_argument("--equivalence-clips", type=int, default=100,
                        help="test clips on which TFLite and SavedModel detections are compared")
    parser.add_argument("--listen-only", action="store_true",
                        help="only the live-listening loop's real-time factor and delay")
    parser.add_argument("--listen-seconds", type=float, default=120.0,
                        help="seconds of audio through each listening configuration")
    parser.add_argument("--other-engines", action="store_true",
                        help="only the runs' figures on other speech engines (flite, festival)")
    parser.add_argument("--runs", nargs="*", default=None,
                        help="run directories for --other-engines (default: --streaming-run)")
    parser.add_argument("--plain-test", action="store_true",
                        help="with --other-engines, also the plain eSpeak test clips (no scenes)")
    parser.add_argument("--note", default="", help="with --other-engines or --openwakeword-reference, sentences for the section")
    parser.add_argument("--json", default="", help="with --other-engines, also write the figures to this file")
    parser.add_argument("--openwakeword-reference", action="store_true",
                        help="only openWakeWord's recipe (its backbone + a small head on our eSpeak clips) "
                             "beside the run's model, on eSpeak test voices and other engines")
    parser.add_argument("--oww-train-clips", type=int, default=800,
                        help="with --openwakeword-reference, training clips embedded for the head")
    parser.add_argument("--oww-epochs", type=int, default=20, help="with --openwakeword-reference, head epochs")
    parser.add_argument("--extra-targets", type=float, nargs="*", default=[5.0, 20.0, 100.0],
                        help="with --other-engines, also rules chosen on validation for these false "
                             "accepts per hour (small runs reach little recall at the run's own target)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    # One CPU core for every timing below.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.listen_only:
        return listen_bench(args)
    if args.other_engines:
        return other_engines_bench(args)
    if args.openwakeword_reference:
        return openwakeword_reference_bench(args)

    from tasks.trigger_word.config import Config
    from tasks.trigger_word.evaluate import detect_events
    from tasks.trigger_word.export import (
        DEFAULT_TFLITE_CHUNK,
        TFLiteStreamer,
        export_saved_model,
        export_tflite,
    )

    saved = json.loads((Path(args.streaming_run) / "config.json").read_text())
    fields = {k: v for k, v in saved.items() if k in Config.__dataclass_fields__}
    fields["negative_words"] = tuple(fields.get("negative_words") or ())
    config = Config(**fields)
    data = build_eval_data(config)
    print(f"data: {len(data.test_clips)} test clips ({sum(map(len, data.test_clips.events))} "
          f"triggers), {data.test_negative.seconds / 3600:.2f} h negative-only test audio", flush=True)

    rows = {}
    for name, run in (("course", args.course_run), ("streaming", args.streaming_run)):
        model = load_run(run)
        metrics, source = metrics_for(run, model, data, config)
        rows[name] = dict(model=model, metrics=metrics, source=source, rule=data.rule,
                          parameters=model.count_params(),
                          history=_history(run))
        print(f"{name}: {model.count_params():,} parameters; recall {metrics['test_recall']:.3f}, "
              f"precision {metrics['test_precision']:.3f}, "
              f"FA/h {metrics['test_false_accepts_per_hour']:.2f}, "
              f"median delay {metrics['test_median_delay_seconds']} s ({source})", flush=True)

    # Streaming speed: TFLite step (1 thread) against the same step in TensorFlow.
    streaming = rows["streaming"]
    model = streaming["model"]
    work = Path(tempfile.mkdtemp(prefix="tw_bench_"))
    tflite_path = export_tflite(model, work / "trigger_word.tflite")
    streamer = TFLiteStreamer(tflite_path, num_threads=1)
    chunk = DEFAULT_TFLITE_CHUNK
    step = tf.function(lambda c, s: model.stream_step(c, s), reduce_retracing=True)

    def tensorflow_stream(waveform):
        states = [tf.constant(s) for s in model.initial_stream_state(1)]
        for start in range(0, len(waveform), chunk):
            _, states = step(tf.constant(waveform[None, start:start + chunk]), states)

    clips = [data.test_clips.waveform(i) for i in range(5)]
    clip_seconds = len(clips[0]) / 16000
    tensorflow_stream(clips[0])
    streamer.probabilities(clips[0])
    tflite_times, tensorflow_times = [], []
    for waveform in clips:  # alternate the two, clip by clip
        tflite_times += timed(lambda: streamer.probabilities(waveform), args.repeats)
        tensorflow_times += timed(lambda: tensorflow_stream(waveform), args.repeats)
    tflite_rtf = float(np.median([t[0] for t in tflite_times])) / clip_seconds
    tensorflow_rtf = float(np.median([t[0] for t in tensorflow_times])) / clip_seconds
    # CPU time is less sensitive than wall time to the other jobs on a shared machine.
    cpu_rtf = (float(np.median([t[1] for t in tflite_times])) / clip_seconds,
               float(np.median([t[1] for t in tensorflow_times])) / clip_seconds)
    print(f"streaming RTF, one thread: TFLite {tflite_rtf:.4f}, TensorFlow {tensorflow_rtf:.4f} "
          f"(TFLite/TensorFlow time ratio {tflite_rtf / tensorflow_rtf:.2f}); from CPU time: "
          f"TFLite {cpu_rtf[0]:.4f}, TensorFlow {cpu_rtf[1]:.4f} (ratio {cpu_rtf[0] / cpu_rtf[1]:.2f})",
          flush=True)

    # TFLite detections against the SavedModel's serving_default (same decision rule).
    rule = streaming["rule"]
    export_saved_model(model, work / "saved_model", rule=rule)
    loaded = tf.saved_model.load(str(work / "saved_model"))
    count = min(args.equivalence_clips, len(data.test_clips))
    agree = 0
    for index in range(count):
        waveform = data.test_clips.waveform(index)
        served = loaded.signatures["serving_default"](waveform=tf.constant(waveform[None]))
        expected = [t for t in served["detections"].numpy()[0].tolist() if t >= 0]
        got = detect_events(streamer.probabilities(waveform), rule.threshold,
                            rule.refractory_seconds, smoothing_frames=rule.smoothing_frames,
                            min_frames=rule.min_frames)
        agree += int(np.allclose(expected, got, atol=1e-4) if len(expected) == len(got) else 0)
    print(f"TFLite detections equal to the SavedModel's on {agree}/{count} test clips", flush=True)

    write_results(args.results, rows, config, data, tflite_rtf, tensorflow_rtf, agree, count, cpu_rtf)
    return 0


def load_config(run_dir):
    from tasks.trigger_word.config import Config

    saved = json.loads((Path(run_dir) / "config.json").read_text())
    fields = {k: v for k, v in saved.items() if k in Config.__dataclass_fields__}
    fields["negative_words"] = tuple(fields.get("negative_words") or ())
    return Config(**fields)


def other_engines_bench(args):
    from tasks.trigger_word.evaluate import (
        choose_rule,
        event_metrics,
        other_engine_metrics,
        other_engine_sets,
        predict,
        summarise,
    )
    from tasks.trigger_word.train import clips_for_minutes, make_clips

    rows = []
    for run in args.runs or [args.streaming_run]:
        config = load_config(run)
        sets = other_engine_sets(config)
        if isinstance(sets, str):
            print(f"other engines skipped: {sets}")
            return 0
        data = build_eval_data(config)
        model = load_run(run)
        metrics, source = metrics_for(run, model, data, config)
        started = time.perf_counter()
        other = other_engine_metrics(model, data.rule, sets)
        row = dict(run=run, config=config, metrics=metrics, rule=data.rule, other=other,
                   seconds=time.perf_counter() - started, sets=sets)
        if args.plain_test:
            plain = config.replace(evaluation_scenes=False)
            clips = make_clips(plain, "test", plain.num_test_clips)
            negative = make_clips(plain, "test", clips_for_minutes(plain.test_negative_minutes,
                                                                   plain.clip_seconds), True)
            row["plain"] = summarise(event_metrics(predict(model, clips.waveforms), clips, data.rule),
                                     event_metrics(predict(model, negative.waveforms), negative,
                                                   data.rule))
        row["targets"] = {}
        if args.extra_targets:
            validation = predict(model, data.validation_clips.waveforms)
            validation_negative = predict(model, data.validation_negative.waveforms)
            test = predict(model, data.test_clips.waveforms)
            test_negative = predict(model, data.test_negative.waveforms)
        for target in args.extra_targets:
            rule, _ = choose_rule(validation, data.validation_clips, validation_negative,
                                  data.validation_negative, target, config.refractory_seconds)
            row["targets"][target] = dict(
                rule=rule, other=other_engine_metrics(model, rule, sets),
                test=summarise(event_metrics(test, data.test_clips, rule),
                               event_metrics(test_negative, data.test_negative, rule)))
            print(f"  rule for {target:g} FA/h on validation (threshold {rule.threshold:g}): eSpeak test "
                  f"recall {row['targets'][target]['test']['recall']:.3f}, other engines recall "
                  f"{row['targets'][target]['other']['recall']:.3f}", flush=True)
        rows.append(row)
        print(f"{run}: other engines recall {other['recall']:.3f} (alone {other['words_recall']:.3f}, "
              f"in sentences {other['sentences_recall']:.3f}), FA/h {other['false_accepts_per_hour']:.2f}; "
              f"eSpeak test recall {metrics['test_recall']:.3f}, FA/h "
              f"{metrics['test_false_accepts_per_hour']:.2f}" +
              (f"; plain eSpeak test recall {row['plain']['recall']:.3f}, FA/h "
               f"{row['plain']['false_accepts_per_hour']:.2f}" if "plain" in row else ""), flush=True)
    write_other_engine_results(args, rows)
    return 0


class _MemoizedPredictor:
    """Gives ``evaluate.predict`` each batch's probabilities once: the bench asks for the same sets
    under several decision rules, and the backbone is the costly part."""

    def __init__(self, function):
        self.function, self.cache, self.seconds = function, {}, 0.0

    def _trigger_word_predict(self, batch):
        import hashlib

        batch = np.asarray(batch)
        key = hashlib.sha1(batch.tobytes()).hexdigest() + str(batch.shape)
        if key not in self.cache:
            started = time.perf_counter()
            self.cache[key] = np.asarray(self.function(batch))
            self.seconds += time.perf_counter() - started
        return self.cache[key]


OWW_WINDOW = 16  # embeddings (1.28 s of 80 ms steps) under one decision of openWakeWord's head


def oww_head(seed):
    """openWakeWord's default classifier: Flatten, (Dense 64, LayerNorm, ReLU) x 2, Dense 1 sigmoid."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((OWW_WINDOW, 96))
    x = keras.layers.Flatten()(inputs)
    for _ in range(2):
        x = keras.layers.ReLU()(keras.layers.LayerNormalization()(keras.layers.Dense(64)(x)))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="oww_head")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def oww_window_end_seconds(count):
    """Where the audio of the head's window ending at embedding ``j`` ends, for ``j`` in 15..count-1."""
    from tasks.trigger_word.speech_embedding import EMBEDDING_STEP_SAMPLES

    window_samples = 12512  # 76 mel frames: (76 - 1) x 160 + 512
    return (np.arange(OWW_WINDOW - 1, count) * EMBEDDING_STEP_SAMPLES + window_samples) / 16000


def oww_labels(end_seconds, events):
    """1 where a trigger word ended within the window's last 0.32 s, 0 where none ends within
    0.4 s after or 1 s before the window's end, -1 (left out) in between."""
    labels = np.zeros(len(end_seconds), np.int8)
    for _, end in events:
        since = end_seconds - end
        labels[(since >= -0.4) & (since <= 1.0) & (labels == 0)] = -1
        labels[(since >= 0) & (since <= 0.32)] = 1
    return labels


def oww_frame_probabilities(window_probabilities, num_samples):
    """The head's probabilities (one per 80 ms, from the 16th embedding on) held on the 40 ms output
    grid of our models: frame ``t`` (ending at sample 640 (t + 1)) takes the latest window ended by then."""
    from tasks.trigger_word.model import FRAME_SAMPLES, num_output_frames
    from tasks.trigger_word.speech_embedding import EMBEDDING_STEP_SAMPLES

    frames = num_output_frames(num_samples)
    ends = (np.arange(frames) + 1) * FRAME_SAMPLES
    latest = (ends - 12512) // EMBEDDING_STEP_SAMPLES - (OWW_WINDOW - 1)  # index into the windows
    batch, count = window_probabilities.shape
    out = np.zeros((batch, frames), np.float32)
    valid = latest >= 0
    out[:, valid] = window_probabilities[:, np.minimum(latest[valid], count - 1)]
    return out


def _budget_figures(predictor, data, sets, targets, refractory_seconds):
    """Rules chosen on validation for each false-accept budget, then test and other-engine figures."""
    from tasks.trigger_word.evaluate import (
        choose_rule,
        event_metrics,
        other_engine_metrics,
        predict,
        summarise,
    )

    validation = predict(predictor, data.validation_clips.waveforms)
    validation_negative = predict(predictor, data.validation_negative.waveforms)
    test = predict(predictor, data.test_clips.waveforms)
    test_negative = predict(predictor, data.test_negative.waveforms)
    rows = {}
    for target in targets:
        rule, _ = choose_rule(validation, data.validation_clips, validation_negative, data.validation_negative,
                              target, refractory_seconds)
        rows[target] = dict(rule=rule, test=summarise(event_metrics(test, data.test_clips, rule),
                                                      event_metrics(test_negative, data.test_negative, rule)),
                            other=other_engine_metrics(predictor, rule, sets))
        print(f"  {target:g} FA/h on validation (threshold {rule.threshold:g}): eSpeak test recall "
              f"{rows[target]['test']['recall']:.3f} at {rows[target]['test']['false_accepts_per_hour']:.2f} FA/h; "
              f"other engines {rows[target]['other']['recall']:.3f} at "
              f"{rows[target]['other']['false_accepts_per_hour']:.2f} FA/h", flush=True)
    return rows


def openwakeword_reference_bench(args):
    import keras
    import tensorflow as tf

    from tasks.trigger_word.evaluate import other_engine_sets
    from tasks.trigger_word.speech_embedding import speech_embedding_backbone
    from tasks.trigger_word.train import make_clips

    run = (args.runs or [args.streaming_run])[0]
    config = load_config(run)
    started = time.perf_counter()
    sets = other_engine_sets(config)
    if isinstance(sets, str):
        print(f"other engines skipped: {sets}")
        return 0
    data = build_eval_data(config)
    train = make_clips(config, "train", config.num_train_clips)
    count = min(args.oww_train_clips, len(train))
    print(f"data loaded in {time.perf_counter() - started:.0f} s; {count} of {len(train)} training clips",
          flush=True)
    targets = [config.target_false_accepts_per_hour] + [t for t in args.extra_targets
                                                       if t != config.target_false_accepts_per_hour]

    # The backbone's embeddings of the training clips, labelled per 16-embedding window.
    backbone = speech_embedding_backbone()
    embed = tf.function(lambda w: backbone(w, training=False), reduce_retracing=True)

    def embeddings_of(waveforms):
        outputs = []
        for start in range(0, len(waveforms), 16):
            batch = np.asarray(waveforms[start:start + 16])
            batch = batch.astype(np.float32) / 32767.0 if batch.dtype == np.int16 else batch
            outputs.append(np.asarray(embed(tf.constant(batch, tf.float32))))
        return np.concatenate(outputs)

    started = time.perf_counter()
    train_embeddings = embeddings_of(train.waveforms[:count])  # (clips, n, 96)
    embed_seconds = time.perf_counter() - started
    windows = np.lib.stride_tricks.sliding_window_view(train_embeddings, OWW_WINDOW, axis=1)
    windows = windows.transpose(0, 1, 3, 2)  # (clips, n - 15, 16, 96)
    ends = oww_window_end_seconds(train_embeddings.shape[1])
    labels = np.stack([oww_labels(ends, train.events[i]) for i in range(count)])
    keep = labels >= 0
    x, y = windows[keep], labels[keep].astype(np.float32)
    print(f"embedded {count} clips in {embed_seconds:.0f} s; {len(y)} windows, {int(y.sum())} positive",
          flush=True)
    head = oww_head(config.seed)
    started = time.perf_counter()
    head.fit(x, y, batch_size=512, epochs=args.oww_epochs, verbose=0, shuffle=True,
             class_weight={0: 1.0, 1: float(max(1.0, (len(y) - y.sum()) / max(y.sum(), 1) / 10))})
    head_seconds = time.perf_counter() - started
    print(f"head trained in {head_seconds:.0f} s ({head.count_params():,} parameters)", flush=True)
    head_function = tf.function(lambda w: head(w, training=False), reduce_retracing=True)

    def oww_probabilities(batch):
        embeddings = embeddings_of(batch)
        windows = np.lib.stride_tricks.sliding_window_view(embeddings, OWW_WINDOW, axis=1).transpose(0, 1, 3, 2)
        shape = windows.shape
        flat = np.asarray(head_function(tf.constant(windows.reshape(-1, OWW_WINDOW, 96))))
        return oww_frame_probabilities(flat.reshape(shape[0], shape[1]), batch.shape[1])

    ours_model = load_run(run)
    ours_function = tf.function(lambda w: ours_model(w, training=False), reduce_retracing=True)
    rows = []
    for name, function in (("openWakeWord recipe (its backbone + 64-64 MLP head)", oww_probabilities),
                           (f"our model ({run})", lambda b: ours_function(tf.constant(b, tf.float32)))):
        print(name, flush=True)
        predictor = _MemoizedPredictor(function)
        started = time.perf_counter()
        figures = _budget_figures(predictor, data, sets, targets, config.refractory_seconds)
        rows.append(dict(name=name, figures=figures, seconds=time.perf_counter() - started))
    keras.backend.clear_session()
    write_oww_results(args, run, config, data, sets, rows, targets, count, len(y), int(y.sum()),
                      embed_seconds, head_seconds)
    return 0


def write_oww_results(args, run, config, data, sets, rows, targets, count, windows, positives,
                      embed_seconds, head_seconds):
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    first = rows[0]["figures"][targets[0]]["other"]
    lines = [
        "## Trigger word: openWakeWord's recipe as a reference",
        "",
        f"`nice -n 10 python bench/trigger_word.py --openwakeword-reference --runs {run} "
        f"--oww-train-clips {args.oww_train_clips} --oww-epochs {args.oww_epochs} --extra-targets "
        f"{' '.join(f'{t:g}' for t in args.extra_targets)}`. openWakeWord's recipe: its frozen backbone "
        "(`tasks/trigger_word/speech_embedding.py`, the Keras port of openWakeWord 0.4.0's mel front end and "
        "Google's speech_embedding, weights read from the installed package; their licence is unclear, "
        "research use only: see the README) embeds the first "
        f"{count} of the run's {config.num_train_clips} cached eSpeak training clips (scenes; {embed_seconds:.0f} s), "
        f"and a 64-64 MLP on 16 embeddings (1.28 s) is trained on their {windows:,} windows ({positives:,} "
        f"ending within 0.32 s after a trigger word; windows near a word's end left out; "
        f"{args.oww_epochs} epochs, {head_seconds:.0f} s). Both detectors are then measured the same way, in "
        "the same run: the decision rule (threshold, smoothing, persistence) chosen on the run's eSpeak "
        f"validation voices ({len(data.validation_clips)} clips + {data.validation_negative.seconds / 3600:.2f} h "
        f"negative-only) for each false-accept budget, then recall on the held-out eSpeak test voices "
        f"({sum(map(len, data.test_clips.events))} words, "
        f"{data.test_negative.seconds / 3600:.2f} h negative-only) and on the other engines (flite, "
        f"festival; never in training: {first['triggers']} words alone and in sentences, "
        f"{first['negative_hours']:.2f} h of near-miss negatives). Load average at the end: {load} (2 cores, "
        "shared with other jobs)." + (f" {args.note}" if args.note else ""),
        "",
        "| detector | validation budget (FA/h) | rule: threshold, smoothing, persistence | eSpeak test: "
        "recall, FA/h | other engines: recall, FA/h | alone | in sentences |",
        "| --- | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for row in rows:
        for target in targets:
            entry = row["figures"][target]
            rule, test, other = entry["rule"], entry["test"], entry["other"]
            lines.append(
                f"| {row['name']} | {target:g} | {rule.threshold:g}, {rule.smoothing_frames}, {rule.min_frames} | "
                f"{test['recall']:.3f}, {test['false_accepts_per_hour']:.2f} | "
                f"{other['recall']:.3f}, {other['false_accepts_per_hour']:.2f} | "
                f"{other['words_recall']:.3f} | {other['sentences_recall']:.3f} |")
    lines += ["", "Per engine family at each budget (recall: hits / words; false accepts per hour):", "",
              "| detector | validation budget (FA/h) | festival | flite |", "| --- | ---: | --- | --- |"]
    for row in rows:
        for target in targets:
            cells = []
            for family in ("festival", "flite"):
                figures = engine_family(row["figures"][target]["other"], family)
                cells.append(f"{figures['recall']:.3f} ({figures['hits']}/{figures['triggers']}), "
                             f"{figures['false_accepts_per_hour']:.2f}")
            lines.append(f"| {row['name']} | {target:g} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(
            [dict(name=row["name"], seconds=row["seconds"],
                  budgets={f"{t:g}": dict(rule=row["figures"][t]["rule"].to_dict(), test=row["figures"][t]["test"],
                                          other=row["figures"][t]["other"]) for t in targets})
             for row in rows], indent=1, default=float))
    write_section(args.results, lines)


def engine_family(other, family):
    """Hits, trigger words, recall and false accepts per hour of the voices named ``family/...``."""
    voices = [figures for voice, figures in other["per_voice"].items() if voice.split("/")[0] == family]
    hits = sum(round(f["words_recall"] * f["words_triggers"]) + round(f["sentences_recall"] * f["sentences_triggers"])
               for f in voices)
    triggers = sum(f["words_triggers"] + f["sentences_triggers"] for f in voices)
    false_accepts = sum(f["false_accepts"] for f in voices)
    hours = sum(f["negative_hours"] for f in voices)
    return dict(hits=hits, triggers=triggers, recall=hits / max(triggers, 1),
                false_accepts_per_hour=false_accepts / max(hours, 1e-9))


def write_other_engine_results(args, rows):
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    sets = rows[0]["sets"]
    voices = sorted(rows[0]["other"]["per_voice"])
    command = "python bench/trigger_word.py --other-engines --runs " + " ".join(r["run"] for r in rows) + (
        " --plain-test" if args.plain_test else "")
    lines = [
        "## Trigger word on other speech engines",
        "",
        f"`{command}`: each run's own decision rule (chosen on its eSpeak validation voices) on "
        f"speech from other engines, never in training ({', '.join(voices)}; each voice at "
        f"duration stretches 0.85, 1.0 and 1.2): {len(sets['words'])} clips with the word alone "
        f"({rows[0]['other']['words_triggers']} words), {len(sets['sentences'])} clips with it inside "
        f"sentences ({rows[0]['other']['sentences_triggers']} words), and "
        f"{rows[0]['other']['negative_hours']:.2f} h of negative-only audio (near-miss words and "
        f"sentences), over generated, continuous-speech, music-like and household backgrounds, half "
        f"in simulated rooms. Load average during the bench: {load} (2 cores)."
        + (f" {args.note}" if args.note else ""),
        "",
        "| run | training scenes | eSpeak test: recall, FA/h | " +
        ("plain eSpeak test: recall, FA/h | " if args.plain_test else "") +
        "other engines: recall | alone | in sentences | FA/h |",
        "| --- | --- | --- | " + ("--- | " if args.plain_test else "") + "---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        other, metrics = row["other"], row["metrics"]
        plain = (f"{row['plain']['recall']:.3f}, {row['plain']['false_accepts_per_hour']:.2f} | "
                 if args.plain_test else "")
        lines.append(
            f"| {row['run']} | {'yes' if row['config'].training_scenes else 'no'} | "
            f"{metrics['test_recall']:.3f}, {metrics['test_false_accepts_per_hour']:.2f} | {plain}"
            f"{other['recall']:.3f} | {other['words_recall']:.3f} | {other['sentences_recall']:.3f} | "
            f"{other['false_accepts_per_hour']:.2f} |")
    targets = sorted({t for row in rows for t in row["targets"]})
    if targets:
        lines += ["", "With rules chosen on the same validation audio for looser false-accept budgets "
                  "(recall, false accepts per hour):", "",
                  "| run | validation budget (FA/h) | rule: threshold, smoothing, persistence | "
                  "eSpeak test | other engines | alone | in sentences |",
                  "| --- | ---: | --- | --- | --- | ---: | ---: |"]
        for row in rows:
            for target in targets:
                entry = row["targets"].get(target)
                if entry is None:
                    continue
                rule, test, other = entry["rule"], entry["test"], entry["other"]
                lines.append(
                    f"| {row['run']} | {target:g} | {rule.threshold:g}, {rule.smoothing_frames}, "
                    f"{rule.min_frames} | {test['recall']:.3f}, {test['false_accepts_per_hour']:.2f} | "
                    f"{other['recall']:.3f}, {other['false_accepts_per_hour']:.2f} | "
                    f"{other['words_recall']:.3f} | {other['sentences_recall']:.3f} |")
    lines += ["", "Per engine family (festival, flite), at each run's own rule and the looser budgets "
              "(recall: hits / trigger words; false accepts per hour):", "",
              "| run | validation budget (FA/h) | festival: recall, FA/h | flite: recall, FA/h |",
              "| --- | --- | --- | --- |"]
    for row in rows:
        points = [("own", row["other"])] + [(f"{t:g}", row["targets"][t]["other"]) for t in targets
                                            if t in row["targets"]]
        for name, other in points:
            cells = []
            for family in ("festival", "flite"):
                figures = engine_family(other, family)
                cells.append(f"{figures['recall']:.3f} ({figures['hits']}/{figures['triggers']}), "
                             f"{figures['false_accepts_per_hour']:.2f}")
            lines.append(f"| {row['run']} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Per voice, at each run's own rule (recall alone / in sentences, false accepts per hour):", "",
              "| voice | " + " | ".join(r["run"] for r in rows) + " |",
              "| --- | " + " | ".join("---" for _ in rows) + " |"]
    for voice in voices:
        cells = []
        for row in rows:
            figures = row["other"]["per_voice"][voice]
            cells.append(f"{figures['words_recall']:.2f} / {figures['sentences_recall']:.2f}, "
                         f"{figures['false_accepts_per_hour']:.1f}")
        lines.append(f"| {voice} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps([_run_record(row) for row in rows], indent=1, default=float))
    write_section(args.results, lines)


def write_section(results, lines):
    """Replaces the section of ``results`` headed ``lines[0]`` (up to the next ``## ``) with ``lines``,
    or appends it."""
    path = Path(results)
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    title = lines[0]
    start = text.find(title + "\n")
    section = "\n".join(lines) + "\n"
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(f"wrote the {title[3:]} section of {path}")


LISTEN_CONFIGURATIONS = (("tflite", 4), ("tflite", 32), ("saved_model", 4), ("saved_model", 32))
LISTEN_BLOCK_SAMPLES = 320  # 20 ms: what a pipe from arecord delivers at a time


def listen_audio(run_dir, seconds):
    """The run's test clips (when its config.json can make them), else speech-like tones."""
    try:
        from tasks.trigger_word.config import Config
        from tasks.trigger_word.train import make_clips

        saved = json.loads((Path(run_dir) / "config.json").read_text())
        fields = {k: v for k, v in saved.items() if k in Config.__dataclass_fields__}
        fields["negative_words"] = tuple(fields.get("negative_words") or ())
        config = Config(**fields)
        clips = make_clips(config, "test", max(1, int(np.ceil(seconds / config.clip_seconds))))
        audio = np.concatenate([clips.waveform(i) for i in range(len(clips))])
        return audio[:int(seconds * 16000)], "the run's test clips"
    except (OSError, ValueError, KeyError):
        rng = np.random.default_rng(0)
        time_axis = np.arange(int(seconds * 16000)) / 16000
        tone = np.sin(2 * np.pi * 300 * time_axis * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * time_axis)))
        audio = 0.3 * tone * (np.sin(2 * np.pi * 1.5 * time_axis) > 0)
        return (audio + 0.01 * rng.standard_normal(len(audio))).astype(np.float32), "speech-like tones"


def listen_loop_figures(listener, audio):
    """(real-time factor, from CPU time, median frame delay s, detection times) of ``listener``.

    Audio arrives in 20 ms blocks; a frame's delay is the audio after it that
    its chunk waits for plus the wall time the feed that completed the chunk took.
    """
    delays, times, started, cpu_started = [], [], time.perf_counter(), time.process_time()
    frame_samples = listener.frame_samples
    for start in range(0, len(audio), LISTEN_BLOCK_SAMPLES):
        frames_before = listener.frames
        fed = time.perf_counter()
        times += [d.time for d in listener.feed(audio[start:start + LISTEN_BLOCK_SAMPLES])]
        took = time.perf_counter() - fed
        heard = min(start + LISTEN_BLOCK_SAMPLES, len(audio))
        for frame in range(frames_before, listener.frames):
            delays.append((heard - (frame + 1) * frame_samples) / 16000 + took)
    times += [d.time for d in listener.finish()]
    seconds = len(audio) / 16000
    return ((time.perf_counter() - started) / seconds, (time.process_time() - cpu_started) / seconds,
            float(np.median(delays)), times)


def listen_bench(args):
    import tensorflow as tf

    from tasks.trigger_word.detect import Detector
    from tasks.trigger_word.evaluate import detect_events
    from tasks.trigger_word.listen import Listener, tflite_for_chunk

    audio, source = listen_audio(args.streaming_run, args.listen_seconds)
    detector = Detector(args.streaming_run)
    # The non-streamed reference: the SavedModel on the whole audio at once, then the same rule.
    whole = detector.loaded.signatures["serving_default"](waveform=tf.constant(audio[None]))
    expected = detect_events(whole["probabilities"].numpy()[0], detector.threshold,
                             detector.refractory_seconds, smoothing_frames=detector.smoothing_frames,
                             min_frames=detector.min_frames)
    rows = []
    for engine, chunk_frames in LISTEN_CONFIGURATIONS:
        tflite = tflite_for_chunk(args.streaming_run, chunk_frames) if engine == "tflite" else None
        figures = [listen_loop_figures(Listener(detector, chunk_frames, tflite), audio)
                   for _ in range(max(1, args.repeats // 2))]
        real_time_factor = float(np.median([f[0] for f in figures]))
        cpu_factor = float(np.median([f[1] for f in figures]))
        delay = float(np.median([f[2] for f in figures]))
        equal = all(len(f[3]) == len(expected) and np.allclose(f[3], expected, atol=1e-4)
                    for f in figures)
        rows.append((engine, chunk_frames * 40, real_time_factor, cpu_factor, delay, equal))
        print(f"listen {engine} {chunk_frames * 40} ms chunks: real-time factor {real_time_factor:.4f} "
              f"(CPU time {cpu_factor:.4f}), "
              f"median delay {delay:.3f} s, detections equal to whole-audio: {equal} "
              f"({len(expected)} detections)", flush=True)
    write_listen_results(args, rows, source, len(audio) / 16000, len(expected))
    return 0


def write_listen_results(args, rows, source, seconds, detections):
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    weights = ("" if (Path(args.streaming_run) / "metrics.json").exists() else
               " (the run has no metrics.json: untrained weights, which cost the same as trained ones)")
    lines = [
        "## Live listening (trigger word)",
        "",
        f"`python bench/trigger_word.py --listen-only --streaming-run {args.streaming_run} "
        f"--listen-seconds {args.listen_seconds:g} --repeats {args.repeats}`: the `listen` "
        f"command's loop (streaming step + decision rule with carried state) on one thread over "
        f"{seconds:g} s of {source} fed in 20 ms blocks{weights}. Delay: a frame's probability is known "
        f"after the rest of its chunk has arrived plus the time the chunk took. Detections equal "
        f"to the SavedModel's on the whole audio at once ({detections} detections). Load average "
        f"during the bench: {load} (2 cores).",
        "",
        "| engine | chunk (ms) | real-time factor | from CPU time | median delay (s) | detections equal |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {engine} | {chunk} | {rtf:.4f} | {cpu:.4f} | {delay:.3f} | {'yes' if equal else 'no'} |"
              for engine, chunk, rtf, cpu, delay, equal in rows]
    if args.json:
        keys = ("engine", "chunk_ms", "real_time_factor", "real_time_factor_cpu", "median_delay_s", "detections_equal")
        Path(args.json).write_text(json.dumps([dict(zip(keys, row)) for row in rows], indent=1, default=float))
    write_section(args.results, lines)


NOTES_MARKER = "<!-- trigger-word notes: kept when the bench rewrites this section -->"


def write_results(path, rows, config, data, tflite_rtf, tensorflow_rtf, agree, count, cpu_rtf):
    import os as _os

    def fmt(value, spec=".3f"):
        return "-" if value is None else format(value, spec)

    epochs = {name: len(row["history"].get("loss", [])) or "?" for name, row in rows.items()}
    load = ", ".join(f"{x:.2f}" for x in _os.getloadavg())
    lines = [
        "## Trigger word",
        "",
        f"`python bench/trigger_word.py` on runs trained with `python -m tasks.trigger_word train "
        f"--model course|streaming` ({config.num_train_clips} training clips, "
        f"{config.synthetic_voices} synthetic training voices, "
        f"{config.crop_seconds:g} s crops, near-miss weight {config.near_miss_weight:g}, same data "
        f"and seed {config.seed} for both; epochs below; the commands are listed under the table). "
        f"Test: {len(data.test_clips)} clips / {sum(map(len, data.test_clips.events))} trigger words "
        f"from eSpeak voice variants unseen in training and validation; false accepts on "
        f"{data.test_negative.seconds / 3600:.2f} h of negative-only audio (near-misses included). "
        "The decision rule (threshold, causal smoothing window, persistence in frames) is chosen on "
        f"validation voices ({len(data.validation_clips)} clips + "
        f"{data.validation_negative.seconds / 3600:.2f} h negative-only) for the highest recall "
        f"at <= {config.target_false_accepts_per_hour:g} false accepts/h; the plain rule "
        "(rising edge of the raw probability, its own validation threshold) is shown for "
        "comparison.",
        "",
        "| model | parameters | epochs | recall | precision | false accepts / h | median delay (s) "
        "| rule: threshold, smoothing, persistence | validation recall | plain rule: recall, FA/h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for name in ("course", "streaming"):
        metrics, rule = rows[name]["metrics"], rows[name]["rule"]
        plain = metrics.get("plain_rule", {})
        lines.append(
            f"| {name} | {rows[name]['parameters']:,} | {epochs[name]} | "
            f"{fmt(metrics['test_recall'])} | {fmt(metrics['test_precision'])} | "
            f"{fmt(metrics['test_false_accepts_per_hour'], '.2f')} | "
            f"{fmt(metrics['test_median_delay_seconds'], '.2f')} | "
            f"{rule.threshold:g}, {rule.smoothing_frames}, {rule.min_frames} | "
            f"{fmt(metrics.get('validation_recall'))} | "
            f"{fmt(plain.get('test_recall'))}, {fmt(plain.get('test_false_accepts_per_hour'), '.2f')} |")
    lines += [
        "",
        f"Streaming real-time factor on one thread (median over 5 test clips x repeats, "
        f"1.28 s chunks): TFLite {tflite_rtf:.4f}, the same step in TensorFlow "
        f"{tensorflow_rtf:.4f} (ratio {tflite_rtf / tensorflow_rtf:.2f}); from process CPU time "
        f"TFLite {cpu_rtf[0]:.4f}, TensorFlow {cpu_rtf[1]:.4f} (ratio {cpu_rtf[0] / cpu_rtf[1]:.2f}). "
        f"TFLite detections (same "
        f"rule) equal the SavedModel's `detections` on {agree}/{count} test clips. Load average "
        f"during the bench: {load} (2 cores).",
        "",
    ]
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find("## Trigger word\n")
    notes = ""
    if start >= 0:
        end = text.find("\n## ", start + 1)
        old = text[start:end + 1] if end >= 0 else text[start:]
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):].rstrip("\n") + "\n\n"
    section = "\n".join(lines) + ("\n" + notes if notes else "")
    if start >= 0:
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(f"wrote the Trigger word section of {path}")


if __name__ == "__main__":
    raise SystemExit(main())
