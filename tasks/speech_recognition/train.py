"""Speech recognition with CTC, read top to bottom: data, model, then :func:`train`.

Data are spoken numbers, digit strings, dates and times synthesised by eSpeak
NG (``data/spoken_forms``; cached), split by voice variant so that the test
voices were never heard. The model (``model.py``) maps the waveform to CTC
character log-probabilities; evaluation decodes them greedily and by prefix
beam search with and without a word n-gram language model of the training
transcripts; export writes a SavedModel that maps a waveform to text.

    python -m tasks.speech_recognition train --out runs/speech_recognition
    python -m tasks.speech_recognition transcribe --model runs/speech_recognition clip.wav --json
"""

from __future__ import annotations

import dataclasses

from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir, log
from tasks.common.runner import TaskCommands
from tasks.speech_recognition.config import Config

NAME = "speech_recognition"


@dataclasses.dataclass
class SpeechData:
    train: object  # epoch index -> tf.data.Dataset of ({"waveform", "num_samples"}, {"labels", "label_length"})
    validation: object
    train_clips: object  # data.spoken_forms SpokenClips
    validation_clips: object
    test_clips: object  # voice variants neither training nor validation heard


def make_clips(config, split, num_utterances):
    from data.spoken_forms import make_spoken_clips

    return make_spoken_clips(split, num_utterances, seed=config.seed, cache_dir=config.cache_dir or None,
                             synthetic_voices=config.synthetic_voices if split == "train" else 0)


def build_data(config):
    from data.spoken_forms import make_dataset

    log(NAME, "synthesising/loading utterances (cached after the first run)")
    train_clips = make_clips(config, "train", config.num_train_utterances)
    validation_clips = make_clips(config, "validation", config.num_validation_utterances)
    test_clips = make_clips(config, "test", config.num_test_utterances)
    return SpeechData(
        # Each epoch's order and augmentation are drawn from (seed, epoch index), whatever the strategy.
        train=lambda epoch: make_dataset(train_clips, config.batch_size, shuffle=True, seed=config.seed,
                                         augment=config.augment, epoch=epoch),
        validation=make_dataset(validation_clips, config.batch_size),
        train_clips=train_clips, validation_clips=validation_clips, test_clips=test_clips)


def model_arguments(config):
    """The model's constructor arguments from the config (only the chosen architecture's)."""
    arguments = dict(architecture=config.model, num_mel_bins=config.num_mel_bins, subsampling=config.subsampling,
                     conv_filters=config.conv_filters, units=config.units, num_layers=config.num_layers,
                     dropout=config.dropout, time_masks=config.time_masks,
                     time_mask_frames=config.time_mask_frames, frequency_masks=config.frequency_masks,
                     frequency_mask_bins=config.frequency_mask_bins, seed=config.seed)
    if config.model == "birnn":
        arguments["cell"] = config.cell
    else:
        arguments.update(num_heads=config.num_heads, intermediate_dim=config.intermediate_dim)
    return arguments


def build_model(config):
    import keras

    from tasks.speech_recognition.model import build_model as build_network

    model = build_network(**model_arguments(config))
    # Warmup, then cosine decay to 5% over the whole run; the step count lives
    # in the optimizer state, so a resumed run continues the same schedule.
    steps = config.epochs * -(-config.num_train_utterances // config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if config.warmup_steps else config.learning_rate, max(1, steps - config.warmup_steps), alpha=0.05,
        warmup_target=config.learning_rate if config.warmup_steps else None, warmup_steps=config.warmup_steps)
    # The CTC loss is the model's compute_loss; clipping keeps its early gradients in check.
    model.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=5.0))
    return model


def build_language_model(config, data):
    """Word n-gram language model of the training transcripts (None with --lm-order 0)."""
    if not config.lm_order:
        return None
    from tasks.speech_recognition.language_model import NgramLanguageModel

    return NgramLanguageModel.from_texts(list(data.train_clips.transcripts), config.lm_order)


def validation_wer_callback(data, config):
    """Greedy WER on the validation clips at each epoch end, added to the logs as ``val_wer``."""
    import keras

    from tasks.speech_recognition.evaluate import Transcriber, word_error_rate

    class ValidationWER(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            transcriber = Transcriber(self.model, batch_size=config.batch_size)
            clips = data.validation_clips
            texts, _ = transcriber.transcribe(list(clips.waveforms), "greedy")
            wer = word_error_rate(list(clips.transcripts), texts)
            if logs is not None:
                logs["val_wer"] = wer
            log(NAME, f"epoch {epoch + 1}: validation WER {wer:.4f} | {clips.transcripts[0]!r} -> {texts[0]!r}")

    return ValidationWER()


# `make demo`: a small recogniser on 600 utterances, two or three minutes on two cores (plus the first
# synthesis of the clips); 20 epochs is where CTC starts to spell whole words, and its unsure transcripts
# are shown rather than emptied.
DEMO_OVERRIDES = dict(num_train_utterances=600, num_validation_utterances=20, num_test_utterances=20,
                      synthetic_voices=20, epochs=20, units=64, num_layers=2, conv_filters=64, num_mel_bins=40,
                      batch_size=32, learning_rate=3e-3, warmup_steps=20, beam_width=4, min_confidence=0.0)


def demo_clips(data, count=2):
    """{description: waveform} of the first test clips, to ask the exported model."""
    clips = data.test_clips
    return {f"test clip {i} (says {clips.transcripts[i]!r})": clips.waveforms[i]
            for i in range(min(count, len(clips.transcripts)))}


def query_saved_model(loaded, waveforms):
    import numpy as np

    answers = []
    for waveform in waveforms:
        outputs = loaded.signatures["serving_default"](waveform=np.asarray(waveform, np.float32))
        answers.append(f"{outputs['text'].numpy().decode()!r} (confidence {float(outputs['confidence']):.2f})")
    return answers


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a speech recogniser into ``config.out``; returns the metrics."""
    from tasks.speech_recognition.evaluate import evaluate
    from tasks.speech_recognition.export import export_saved_model, export_tflite

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change)
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config)
    run.log(f"model {config.model}: {model.count_params():,} parameters")
    callbacks = [validation_wer_callback(data, config)] if config.wer_every_epoch else []
    model = fit_resumable(model, run, data.train, data.validation, callbacks=callbacks)
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    run.log("evaluating: greedy, beam and beam + language model on unseen voice variants")
    lm = build_language_model(config, data)
    if lm is not None:
        lm.save(run.dir / "language_model.json")
    metrics = evaluate(model, data, config, run.dir, lm=lm)
    metrics["parameters"] = int(model.count_params())
    metrics["model"] = config.model

    run.export(lambda directory: export_saved_model(
        model, directory, config.beam_width, lm, config.lm_weight, config.word_bonus, config.serving_decoder,
        config.min_confidence))
    try:
        export_tflite(model, run.dir / "speech_recognition.tflite")
        run.log(f"TFLite acoustic model written to {run.dir / 'speech_recognition.tflite'}")
    except Exception as error:  # the converter's failures are many and varied; the SavedModel is the product
        run.log(f"TFLite conversion failed ({str(error).splitlines()[0][:200]}); SavedModel only")
    demo = run.verify_saved_model(query_saved_model, demo_clips(data))
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_wer")


def commands():
    from tasks.speech_recognition.transcribe import transcribe_command

    return {"transcribe": transcribe_command}


TASK = TaskCommands(name=NAME, config_class=Config, train=train, demo_overrides=DEMO_OVERRIDES, commands=commands,
                    description="Speech recognition with CTC: spoken numbers, dates and times to text "
                                "(and on to ISO dates)")
