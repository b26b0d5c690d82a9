"""Perplexity on held-out text and the quality of sampled names.

Perplexity is exp of the mean cross-entropy per predicted character (the boundary
that ends a name included, padding excluded): a model that guessed uniformly among
the 27 symbols would score 27. For names, sampled names are judged as the course
does by eye, but counted: a sample is

* **well formed** if it ended by itself (the model chose the boundary before running
  out of length), has 2 to ``max_name_length`` letters, contains a vowel (a, e, i, o,
  u or y), repeats no letter three times in a row, and every pair of adjacent
  letters, the start and the end included (``^m``, ``ma``, ..., ``y$``), occurs in
  some training name. This is calibrated on real names: 99% of the held-out
  validation names pass it and 12% of random 4-8 letter strings do (see
  ``validation_names_well_formed_share`` in metrics.json);
* **new** if it is not one of the training names.
"""

import json
import re

import numpy as np
import tensorflow as tf

VOWELS = set("aeiouy")
_TRIPLE = re.compile(r"(.)\1\1")


def perplexity(model, dataset):
    """exp(sum of -log P(target) / number of weighted targets) over ``dataset``."""
    total_loss, count = 0.0, 0.0
    for inputs, targets, weights in dataset:
        logits = model(inputs, training=False)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32), logits=logits)
        total_loss += float(tf.reduce_sum(losses * weights))
        count += float(tf.reduce_sum(weights))
    return float(np.exp(total_loss / max(count, 1.0)))


def letter_bigrams(name):
    """Adjacent letter pairs of a name with ``^`` and ``$`` marking its start and end."""
    marked = f"^{name}$"
    return {marked[i : i + 2] for i in range(len(marked) - 1)}


def known_bigrams(training_names):
    known = set()
    for name in training_names:
        known |= letter_bigrams(name)
    return known


def is_well_formed(name, max_length, ended=True, bigrams=None):
    """True for a plausible name (see the module docstring).

    ``ended`` says the model stopped by itself; ``bigrams`` (from :func:`known_bigrams`)
    enables the check that every letter pair occurs in the training names.
    """
    return (
        ended
        and 2 <= len(name) <= max_length
        and name.isalpha()
        and bool(VOWELS & set(name))
        and not _TRIPLE.search(name)
        and (bigrams is None or letter_bigrams(name) <= bigrams)
    )


def sample_quality(samples, training_names, max_length):
    """Shares of ``samples`` (list of (name, ended)) that are well formed, new, and both."""
    training = set(training_names)
    bigrams = known_bigrams(training_names)
    count = max(len(samples), 1)
    well_formed = [is_well_formed(name, max_length, ended, bigrams) for name, ended in samples]
    new = [name not in training for name, _ in samples]
    return {
        "sample_well_formed_share": sum(well_formed) / count,
        "sample_new_share": sum(new) / count,
        "sample_new_and_well_formed_share": sum(w and n for w, n in zip(well_formed, new)) / count,
        "sample_distinct_share": len({name for name, _ in samples}) / count,
    }


def sample_names(generator, count, temperature, seed, top_k=0, top_p=1.0, batch_size=100):
    """``count`` names from empty prompts: list of (name, ended_by_itself)."""
    samples = []
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        texts = generator.generate(
            tf.constant([""] * size), tf.constant(float(temperature)), tf.constant(int(top_k)),
            tf.constant(float(top_p)), tf.constant([seed, start], tf.int64),
        )["text"].numpy()
        for text in texts:
            text = text.decode("utf-8")
            # A name that never drew the boundary fills the whole length budget.
            samples.append((text, len(text) < generator.max_new_characters))
    return samples


def evaluate(model, data, config, generator, out_dir=None):
    """Validation/test perplexity; for names also sample quality. Writes samples.txt into ``out_dir``."""
    metrics = {
        "validation_perplexity": perplexity(model, data.validation),
        "test_perplexity": perplexity(model, data.test),
    }
    if config.corpus == "names":
        samples = sample_names(generator, config.num_samples, config.temperature, config.seed,
                               config.top_k, config.top_p)
        metrics.update(sample_quality(samples, data.train_names, config.max_name_length))
        bigrams = known_bigrams(data.train_names)
        # Calibration of the well-formedness rule: how many real, unseen names pass it.
        metrics["validation_names_well_formed_share"] = float(np.mean(
            [is_well_formed(name, config.max_name_length, True, bigrams) for name in data.validation_names]))
        lines = [f"{name.capitalize():<14} {'new' if name not in data.train_set else 'seen'}"
                 f"{'' if is_well_formed(name, config.max_name_length, ended, bigrams) else ' (ill formed)'}"
                 for name, ended in samples]
    else:
        texts = generator.generate(tf.constant(["HAMLET\n", "To be"]), tf.constant(float(config.temperature)),
                                   tf.constant(config.top_k), tf.constant(float(config.top_p)),
                                   tf.constant([config.seed, 0], tf.int64))["text"].numpy()
        lines = [t.decode("utf-8") + "\n----" for t in texts]
    if out_dir is not None:
        with open(f"{out_dir}/samples.txt", "w") as handle:
            handle.write("\n".join(lines) + "\n")
        with open(f"{out_dir}/vocabulary.json", "w") as handle:
            json.dump(list(data.vocabulary.characters), handle)
    return metrics
