"""Untrained run directories of every task, made through each task's own model and export code.

The web app's tests and its load test need runs but not good answers: an
untrained model of the same architecture has the same signatures, shapes and
cost per call as a trained one. Each builder writes what the runner writes
that the app reads (``saved_model/``, and ``model.keras`` / ``config.json``
where an adapter uses them) in seconds instead of a training run.

    python -m webapp.untrained runs/untrained            # tiny models (tests)
    python -m webapp.untrained runs/bench --full-size    # the default architectures (load test)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import types
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SENTIMENT_WORDS = ("a the film movie is was and of to it good great fine moving witty gorgeous bad awful "
                   "dull boring mess not very plot acting story").split()
EMBEDDING_WORDS = ("king queen man woman prince princess boy girl paris france london england berlin germany "
                   "rome italy madrid spain cat dog horse cow apple orange banana red green blue one two three "
                   "four five car bus train city town river sea").split()


def build_dates(run_dir, full_size=False):
    from tasks.date_translation.config import Config
    from tasks.date_translation.export import export_model
    from tasks.date_translation.model import build_model

    small = {} if full_size else dict(embedding_dim=8, encoder_units=8, decoder_units=16, attention_units=8,
                                      serving_jit_compile=False)
    config = Config(**small)
    model = build_model(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(run_dir / "model.keras"))
    (run_dir / "config.json").write_text(json.dumps({"sequence_length": config.sequence_length,
                                                     "not_a_date_above": config.not_a_date_above}))
    export_model(model, config, run_dir / "saved_model")


def build_sentiment(run_dir, full_size=False):
    from tasks.sentiment.config import Config
    from tasks.sentiment.export import export_saved_model
    from tasks.sentiment.model import build_classifier, build_vocabulary

    config = Config(model="cnn", **({} if full_size else dict(filters=4, filter_widths=(2, 3))))
    vocabulary = build_vocabulary([SENTIMENT_WORDS])
    dim = 50 if full_size else 8
    matrix = np.random.default_rng(0).normal(0.0, 0.5, (len(vocabulary) + 2, dim)).astype(np.float32)
    matrix[:2] = 0.0
    model = build_classifier(config, vocabulary, matrix, 2)
    export_saved_model(model, ["negative", "positive"], run_dir / "saved_model")


def build_text_generation(run_dir, full_size=False):
    from tasks.text_generation.config import Config
    from tasks.text_generation.export import export
    from tasks.text_generation.model import build_model

    config = Config(**({} if full_size else dict(units=8, embedding_dim=4)))
    characters = ("", "\n") + tuple("abcdefghijklmnopqrstuvwxyz")
    model = build_model(config, len(characters))
    export(model, types.SimpleNamespace(characters=characters), config, run_dir / "saved_model")


def spoken_clip(word="activate", seconds=4.0, at=1.5, seed=0):
    """A 16 kHz clip: quiet noise with ``word`` spoken by eSpeak NG at ``at`` seconds (a chirp if eSpeak fails)."""
    rng = np.random.default_rng(seed)
    clip = rng.normal(0.0, 0.003, int(seconds * 16000)).astype(np.float32)
    try:
        from data.trigger_word.speech_engine import EspeakEngine
        from data.trigger_word.voices import Speaker

        spoken = EspeakEngine.for_this_process().synthesize(word, Speaker("en", "m1", 50, 50, 175))
    except Exception:
        t = np.arange(int(0.6 * 16000)) / 16000
        spoken = (0.5 * np.sin(2 * np.pi * (300 + 800 * t) * t)).astype(np.float32)
    start = int(at * 16000)
    clip[start : start + len(spoken)] += spoken[: len(clip) - start]
    return clip, start / 16000, (start + len(spoken)) / 16000


def build_trigger_word(run_dir, full_size=False, clip=None):
    """An untrained streaming detector made to respond to speech in ``clip`` (default :func:`spoken_clip`).

    Random weights give a probability track that differs between speech and
    silence, but not always upwards: the classifier is negated when speech
    scores lower, and the threshold is set halfway between the track's level
    before the word and its peak during it, so the detector fires on the word
    and not on the quiet before it.
    """
    import keras

    from tasks.trigger_word.evaluate import DecisionRule
    from tasks.trigger_word.export import export_saved_model
    from tasks.trigger_word.model import FRAME_SECONDS, build_model

    keras.utils.set_random_seed(0)
    model = build_model("streaming", **({} if full_size else dict(units=16, num_layers=1, conv_filters=16)))
    waveform, start, end = clip if clip is not None else spoken_clip()
    probabilities = np.asarray(model(waveform[None], training=False))[0]
    frames = np.arange(len(probabilities))
    before = probabilities[(frames + 1) * FRAME_SECONDS < start - 0.3]
    during = probabilities[((frames + 1) * FRAME_SECONDS >= start) & ((frames + 1) * FRAME_SECONDS <= end + 0.3)]
    if during.max() - before.max() < before.min() - during.min():
        kernel, bias = model.classifier.get_weights()
        model.classifier.set_weights([-kernel, -bias])
        probabilities = 1.0 - probabilities
        before, during = 1.0 - before, 1.0 - during
    threshold = float((before.max() + during.max()) / 2)
    export_saved_model(model, run_dir / "saved_model", rule=DecisionRule(threshold, 1.0))
    return threshold


def build_word_embeddings(run_dir, full_size=False):
    from data.word_vectors import WordVectors
    from tasks.word_embeddings.export import export_neighbours

    rng = np.random.default_rng(0)
    words = list(EMBEDDING_WORDS) + ([f"w{i}" for i in range(10000)] if full_size else [])
    vectors = WordVectors(words, rng.normal(size=(len(words), 100 if full_size else 16)).astype(np.float32))
    export_neighbours(vectors, run_dir / "saved_model")


def build_speech_recognition(run_dir, full_size=False):
    """An untrained CTC recogniser (its transcripts are random letters; the signatures are the real ones)."""
    import keras

    from tasks.speech_recognition.export import export_saved_model
    from tasks.speech_recognition.model import build_model

    keras.utils.set_random_seed(0)
    small = {} if full_size else dict(units=8, num_layers=1, conv_filters=8, num_mel_bins=16, frequency_mask_bins=4)
    model = build_model(**small)
    export_saved_model(model, run_dir / "saved_model", beam_width=8 if full_size else 4)


# Costliest first, so that processes sharing the work (build_runs_shared) finish close together.
BUILDERS = {
    "speech_recognition": build_speech_recognition,
    "date_translation": build_dates,
    "trigger_word": build_trigger_word,
    "text_generation": build_text_generation,
    "sentiment": build_sentiment,
    "word_embeddings": build_word_embeddings,
}


def build_runs(runs_dir, tasks=None, full_size=False):
    runs_dir = Path(runs_dir)
    for task in tasks or BUILDERS:
        (runs_dir / task).mkdir(parents=True, exist_ok=True)
        BUILDERS[task](runs_dir / task, full_size=full_size)
    return runs_dir


def build_runs_shared(runs_dir, tasks=None, full_size=False):
    """:func:`build_runs` for several processes at once (pytest-xdist workers) on one ``runs_dir``.

    Each task has a lock file: a process first builds every task whose lock
    it gets at once and that nobody has finished, then waits on the locks of
    the others. Two processes so build the runs in about half the time of
    one; a task whose builder failed elsewhere is built (and fails) again here.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    pending = list(tasks or BUILDERS)
    for blocking in (False, True):
        for task in list(pending):
            with open(runs_dir / f".{task}.lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another process is building it
                finished = runs_dir / f".{task}.complete"
                if not finished.exists():
                    build_runs(runs_dir, [task], full_size)
                    finished.write_text("ok")
                pending.remove(task)
    return runs_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m webapp.untrained", description=__doc__.split("\n")[0])
    parser.add_argument("runs", help="directory to write <task>/saved_model into")
    parser.add_argument("--full-size", action="store_true", help="the tasks' default architectures")
    parser.add_argument("--only", default="", help="comma-separated tasks")
    args = parser.parse_args(argv)
    build_runs(args.runs, [t for t in args.only.split(",") if t] or None, args.full_size)
    print(f"untrained runs in {args.runs}")


if __name__ == "__main__":
    main()
