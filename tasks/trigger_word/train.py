"""Trigger-word detection through the shared runner.

Reads top to bottom: data (synthesised clips, cached), model (course or
streaming), evaluation (event level, threshold on validation voices), export
(SavedModel, plus TFLite for the streaming model).

    python -m tasks.trigger_word train --out runs/trigger_word --model course
    python -m tasks.trigger_word train --out runs/tw_streaming --model streaming
    python -m tasks.trigger_word detect --model runs/trigger_word clip.wav --json
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tasks.common.runner import Task, atomic_write_json, log
from tasks.trigger_word.config import Config


@dataclasses.dataclass
class TriggerWordData:
    train: object  # tf.data.Dataset of (waveform (batch, samples), labels (batch, frames))
    validation: object
    train_clips: object  # data.trigger_word.TriggerWordClips
    validation_clips: object
    validation_negative: object  # negative-only audio of the validation voices
    test_clips: object  # unseen voices
    test_negative: object  # >= 1 hour of negative-only audio of unseen voices by default
    threshold: float = 0.5  # chosen on validation by evaluate()
    rule: object = None  # evaluate.DecisionRule chosen on validation by evaluate()


def make_clips(config, split, num_clips, negative_only=False):
    from data.trigger_word import NEGATIVE_WORDS, make_trigger_word_clips

    return make_trigger_word_clips(
        split, num_clips, seed=config.seed, word=config.word, clip_seconds=config.clip_seconds,
        negative_only=negative_only, speakers_per_variant=config.speakers_per_variant,
        cache_dir=config.cache_dir or None, negative_words=config.negative_words or NEGATIVE_WORDS,
        synthetic_voices=config.synthetic_voices if split == "train" else 0, verbose=True)


def clips_for_minutes(minutes, clip_seconds):
    return max(1, int(round(minutes * 60 / clip_seconds)))


class TriggerWordTask(Task):
    name = "trigger_word"
    description = "Detect a spoken trigger word in audio: course and streaming models, TFLite"
    config_class = Config
    # Small enough for `make demo` on two shared cores: ~2-3 minutes including
    # synthesising the (cached) word banks the first time.
    # 400 clips, 30 epochs of 3 s crops (the defaults' crops and cosine rate from 2e-3), 100 generated
    # voices: 92% recall on the demo's 52 unseen-voice triggers in 112 s on 2 cores, word banks
    # included (no generated voices: 88%; whole clips, 10 epochs at 1e-3: 12%).
    demo_overrides = dict(num_train_clips=400, num_validation_clips=40, validation_negative_minutes=3,
                          num_test_clips=40, test_negative_minutes=3, speakers_per_variant=1,
                          synthetic_voices=100, epochs=30, batch_size=16, model="streaming",
                          negative_words=("activity", "active", "captivate", "motivate",
                                          "cultivate", "navigate", "vacation", "action",
                                          "hello", "computer", "music", "window"))
    headline_metric = "test_recall"

    # ------------------------------------------------------------------ data

    def build_data(self, config):
        from data.trigger_word import make_dataset
        from tasks.trigger_word.model import FRAME_SECONDS, num_output_frames

        num_frames = num_output_frames(config.clip_seconds * 16000)
        log(self.name, f"synthesising/loading clips for {config.word!r} (cached after the first run)")
        train_clips = make_clips(config, "train", config.num_train_clips)
        validation_clips = make_clips(config, "validation", config.num_validation_clips)
        validation_negative = make_clips(
            config, "validation",
            clips_for_minutes(config.validation_negative_minutes, config.clip_seconds), True)
        test_clips = make_clips(config, "test", config.num_test_clips)
        test_negative = make_clips(
            config, "test", clips_for_minutes(config.test_negative_minutes, config.clip_seconds), True)
        return TriggerWordData(
            train=make_dataset(train_clips, num_frames, FRAME_SECONDS, config.batch_size,
                               shuffle=True, seed=config.seed, crop_seconds=config.crop_seconds,
                               positive_fraction=config.positive_crop_fraction,
                               near_miss_weight=config.near_miss_weight),
            validation=make_dataset(validation_clips, num_frames, FRAME_SECONDS, config.batch_size),
            train_clips=train_clips, validation_clips=validation_clips,
            validation_negative=validation_negative, test_clips=test_clips,
            test_negative=test_negative)

    # ------------------------------------------------------------------ model

    def build_model(self, config, data):
        import keras

        from tasks.trigger_word.model import build_model, frame_binary_crossentropy

        model = build_model(config.model, dropout=config.dropout)
        # Cosine decay over the whole run; the step count lives in the optimizer
        # state, so a resumed run continues the same schedule.
        steps = config.epochs * -(-config.num_train_clips // config.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.05)
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            # Per-frame cross-entropy (batch, frames), so per-frame weights
            # (--near-miss-weight) apply; unweighted it equals the usual mean.
            loss=frame_binary_crossentropy,
            metrics=[keras.metrics.BinaryAccuracy(name="frame_accuracy"),
                     keras.metrics.AUC(name="auc")])
        return model

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, model, data, config, out_dir):
        from tasks.trigger_word.evaluate import evaluate

        metrics = evaluate(model, data, config, out_dir)
        metrics["parameters"] = int(model.count_params())
        metrics["model"] = config.model
        atomic_write_json(Path(out_dir) / "detection.json",
                          {**data.rule.to_dict(), "word": config.word, "model": config.model})
        return metrics

    # ------------------------------------------------------------------ export

    def export(self, model, data, config, export_dir):
        from tasks.trigger_word.export import export_saved_model, export_tflite

        export_saved_model(model, export_dir, rule=data.rule)
        if model.causal:
            path = Path(export_dir).parent / "trigger_word.tflite"
            export_tflite(model, path)
            log(self.name, f"TFLite streaming step written to {path}")

    def demo_inputs(self, config):
        clips = make_clips(config, "test", config.num_test_clips)
        self._demo = {}
        for index in range(min(3, len(clips))):
            ends = ", ".join(f"{end:.2f} s" for _, end in clips.events[index])
            key = f"test clip {index} ({'trigger words end at ' + ends if ends else 'no trigger word'})"
            self._demo[key] = clips.waveform(index)
        return list(self._demo)

    def query_saved_model(self, loaded, inputs):
        import numpy as np

        answers = []
        for key in inputs:
            outputs = loaded.signatures["serving_default"](
                waveform=np.asarray(self._demo[key], np.float32)[None])
            times = [t for t in outputs["detections"].numpy()[0].tolist() if t >= 0]
            answers.append("detections at " + ", ".join(f"{t:.2f} s" for t in times) if times else "no detections")
        return answers

    def commands(self):
        from tasks.trigger_word.detect import detect_command
        from tasks.trigger_word.listen import listen_command

        return {"detect": detect_command, "listen": listen_command}


TASK = TriggerWordTask()
