"""Trigger-word detection, read top to bottom: data, model, then :func:`train`.

Data are synthesised clips (cached); the model is the course or the streaming
one; evaluation is event level with the threshold chosen on validation voices;
export writes a SavedModel, plus TFLite for the streaming model.

    python -m tasks.trigger_word train --out runs/trigger_word --model course
    python -m tasks.trigger_word train --out runs/tw_streaming --model streaming
    python -m tasks.trigger_word detect --model runs/trigger_word clip.wav --json
"""

from __future__ import annotations

import dataclasses

from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir, atomic_write_json, log
from tasks.common.runner import TaskCommands
from tasks.trigger_word.config import Config

NAME = "trigger_word"


@dataclasses.dataclass
class TriggerWordData:
    train: object  # epoch index -> tf.data.Dataset of (waveform (batch, samples), labels (batch, frames))
    validation: object
    train_clips: object  # data.trigger_word.TriggerWordClips
    validation_clips: object
    validation_negative: object  # negative-only audio of the validation voices
    test_clips: object  # unseen voices
    test_negative: object  # >= 1 hour of negative-only audio of unseen voices by default
    threshold: float = 0.5  # chosen on validation by evaluate()
    rule: object = None  # evaluate.DecisionRule chosen on validation by evaluate()


def training_scene(config):
    """The training clips' :class:`SceneOptions` (rooms, sentences, backgrounds, augmentation), or None."""
    from data.trigger_word.augment import AugmentOptions
    from data.trigger_word.scenes import SceneOptions

    if not config.training_scenes:
        return None
    return SceneOptions(
        room_probability=config.room_probability, num_rooms=config.num_rooms,
        sentence_fraction=config.sentence_fraction,
        negative_sentence_fraction=config.negative_sentence_fraction,
        sentences_per_speaker=config.sentences_per_speaker, num_passages=config.num_passages,
        speech_background_fraction=config.speech_background_fraction,
        music_fraction=config.music_fraction, household_fraction=config.household_fraction,
        augment=AugmentOptions(speed_probability=config.speed_probability,
                               pitch_probability=config.pitch_probability,
                               equalizer_probability=config.equalizer_probability,
                               channel_probability=config.channel_probability))


# Validation and test voices are few, so each says more sentences than a training voice.
EVALUATION_SENTENCES_PER_SPEAKER = 4


def evaluation_scene(config):
    """Validation and test clips' :class:`SceneOptions`, or None for plain clips.

    Fixed fractions (SceneOptions' defaults) and no speed, pitch or EQ: the
    same clips whatever the training options, only the bank sizes follow the config.
    """
    from data.trigger_word.augment import AugmentOptions
    from data.trigger_word.scenes import SceneOptions

    if not config.evaluation_scenes:
        return None
    return SceneOptions(num_rooms=max(config.num_rooms, 1),
                        sentences_per_speaker=EVALUATION_SENTENCES_PER_SPEAKER,
                        num_passages=max(config.num_passages, 1),
                        augment=AugmentOptions(speed_probability=0.0, pitch_probability=0.0,
                                               equalizer_probability=0.0, channel_probability=0.2))


def mined_near_misses(config, split):
    """The training split's extra near-misses mined from the word's phonemes (none for other splits)."""
    from data.trigger_word.near_misses import pick_near_misses

    if split != "train" or not config.mined_near_misses:
        return ()
    return pick_near_misses(config.word, count=config.mined_near_misses,
                            cache_dir=config.cache_dir or None)


def make_clips(config, split, num_clips, negative_only=False):
    from data.trigger_word import make_trigger_word_clips
    from data.trigger_word.near_misses import negative_words_for

    return make_trigger_word_clips(
        split, num_clips, seed=config.seed, word=config.word, clip_seconds=config.clip_seconds,
        negative_only=negative_only, speakers_per_variant=config.speakers_per_variant,
        cache_dir=config.cache_dir or None,
        negative_words=negative_words_for(config.word, config.negative_words, config.auto_near_misses,
                                          config.cache_dir or None),
        synthetic_voices=config.synthetic_voices if split == "train" else 0, verbose=True,
        scene=training_scene(config) if split == "train" else evaluation_scene(config),
        extra_near_misses=mined_near_misses(config, split),
        varied_prosody=config.varied_prosody and split == "train")


def clips_for_minutes(minutes, clip_seconds):
    return max(1, int(round(minutes * 60 / clip_seconds)))


def build_data(config):
    from data.trigger_word import make_dataset
    from tasks.trigger_word.model import FRAME_SECONDS, num_output_frames

    num_frames = num_output_frames(config.clip_seconds * 16000)
    log(NAME, f"synthesising/loading clips for {config.word!r} (cached after the first run)")
    train_clips = make_clips(config, "train", config.num_train_clips)
    validation_clips = make_clips(config, "validation", config.num_validation_clips)
    validation_negative = make_clips(
        config, "validation",
        clips_for_minutes(config.validation_negative_minutes, config.clip_seconds), True)
    test_clips = make_clips(config, "test", config.num_test_clips)
    test_negative = make_clips(
        config, "test", clips_for_minutes(config.test_negative_minutes, config.clip_seconds), True)
    return TriggerWordData(
        # Each epoch's order and crops are drawn from (seed, epoch index), whatever the strategy.
        train=lambda epoch: make_dataset(train_clips, num_frames, FRAME_SECONDS, config.batch_size,
                                         shuffle=True, seed=config.seed, crop_seconds=config.crop_seconds,
                                         positive_fraction=config.positive_crop_fraction,
                                         near_miss_weight=config.near_miss_weight, epoch=epoch),
        validation=make_dataset(validation_clips, num_frames, FRAME_SECONDS, config.batch_size),
        train_clips=train_clips, validation_clips=validation_clips,
        validation_negative=validation_negative, test_clips=test_clips,
        test_negative=test_negative)


def build_model(config):
    import keras

    from tasks.trigger_word.model import build_model as build_network
    from tasks.trigger_word.model import frame_binary_crossentropy

    masks = (config.spec_augment_time_masks, config.spec_augment_time_mask_frames,
             config.spec_augment_frequency_masks, config.spec_augment_frequency_mask_bins)
    model = build_network(config.model, dropout=config.dropout,
                          spec_augment=masks if masks[0] * masks[1] or masks[2] * masks[3] else None)
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


# `make demo`: the streaming model on 400 clips with 100 generated voices, a few minutes on two
# shared cores including synthesising the (cached) word banks the first time.
DEMO_OVERRIDES = dict(num_train_clips=400, num_validation_clips=40, validation_negative_minutes=3,
                      num_test_clips=40, test_negative_minutes=3, speakers_per_variant=1,
                      synthetic_voices=100, epochs=30, batch_size=16, model="streaming",
                      negative_words=("activity", "active", "captivate", "motivate",
                                      "cultivate", "navigate", "vacation", "action",
                                      "hello", "computer", "music", "window"),
                      # Plain clips: 400 clips are too few to learn the word through the scenes' rooms,
                      # sentences and backgrounds, which are the full run's.
                      training_scenes=False, evaluation_scenes=False,
                      # Small banks: 8 rooms and 20 passages are made in well under a minute.
                      num_rooms=8, num_passages=20, other_engine_clips=12,
                      other_engine_negative_minutes=2)


def demo_clips(config):
    """{description: waveform} of the first three test clips, to ask the exported model."""
    clips = make_clips(config, "test", config.num_test_clips)
    demo = {}
    for index in range(min(3, len(clips))):
        ends = ", ".join(f"{end:.2f} s" for _, end in clips.events[index])
        key = f"test clip {index} ({'trigger words end at ' + ends if ends else 'no trigger word'})"
        demo[key] = clips.waveform(index)
    return demo


def query_saved_model(loaded, waveforms):
    import numpy as np

    answers = []
    for waveform in waveforms:
        outputs = loaded.signatures["serving_default"](waveform=np.asarray(waveform, np.float32)[None])
        times = [t for t in outputs["detections"].numpy()[0].tolist() if t >= 0]
        answers.append("detections at " + ", ".join(f"{t:.2f} s" for t in times) if times else "no detections")
    return answers


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a trigger-word detector into ``config.out``; returns the metrics."""
    from tasks.trigger_word.evaluate import evaluate
    from tasks.trigger_word.export import export_saved_model, export_tflite

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change)
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config)
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    model = fit_resumable(model, run, data.train, data.validation)
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    # Evaluation also chooses the decision rule (threshold, smoothing) on the validation voices.
    run.log("evaluating")
    metrics = evaluate(model, data, config, run.dir)
    metrics["parameters"] = int(model.count_params())
    metrics["model"] = config.model
    atomic_write_json(run.dir / "detection.json", {**data.rule.to_dict(), "word": config.word, "model": config.model})

    run.export(lambda directory: export_saved_model(model, directory, rule=data.rule))
    if model.causal:
        export_tflite(model, run.dir / "trigger_word.tflite")
        run.log(f"TFLite streaming step written to {run.dir / 'trigger_word.tflite'}")
    demo = run.verify_saved_model(query_saved_model, demo_clips(config))
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_recall")


def commands():
    from tasks.trigger_word.detect import detect_command
    from tasks.trigger_word.listen import listen_command

    return {"detect": detect_command, "listen": listen_command}


TASK = TaskCommands(name=NAME, config_class=Config, train=train, demo_overrides=DEMO_OVERRIDES, commands=commands,
                    description="Detect a spoken trigger word in audio: course and streaming models, TFLite")
