"""Character language model: data, model, fit, evaluate, export, through the shared runner.

    python -m tasks.text_generation train --out runs/names                 # census names, LSTM
    python -m tasks.text_generation train --cell gru --num-layers 2 --clipnorm 5
    python -m tasks.text_generation train --corpus hamlet --num-layers 2 --units 256 --out runs/hamlet
    python -m tasks.text_generation sample --model runs/names --n 20 --temperature 0.8
    python -m tasks.text_generation gradients --out runs/gradients          # vanishing-gradient plot
"""

import argparse
import dataclasses
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from data import names as corpora  # noqa: E402
from tasks.common.runner import Task  # noqa: E402
from tasks.text_generation.config import Config  # noqa: E402


@dataclasses.dataclass
class TextData:
    """Batched (inputs, targets, weights) datasets plus what sampling and evaluation need."""

    train: object
    validation: object
    test: object
    vocabulary: corpora.CharVocabulary
    train_names: list  # empty for running text
    train_set: frozenset
    validation_names: list  # empty for running text


def build_data(config):
    """Names split at random (seeded) or Hamlet split in order; one vocabulary from the whole corpus."""
    if config.corpus == "names":
        names = corpora.load_names()
        vocabulary = corpora.CharVocabulary.from_texts(names)
        train, validation, test = corpora.split_names(names, config.holdout_fraction, config.seed)
        arrays = [corpora.names_arrays(part, vocabulary, config.max_name_length) for part in (train, validation, test)]
        train_names, validation_names = train, validation
    else:
        text = corpora.load_hamlet()
        vocabulary = corpora.CharVocabulary.from_texts([text])
        parts = corpora.split_text(text, config.holdout_fraction)
        arrays = [corpora.text_arrays(part, vocabulary, config.sequence_length) for part in parts]
        train_names, validation_names = [], []
    return TextData(
        train=corpora.make_dataset(arrays[0], config.batch_size, shuffle=True, seed=config.seed),
        validation=corpora.make_dataset(arrays[1], config.batch_size, shuffle=False, seed=config.seed),
        test=corpora.make_dataset(arrays[2], config.batch_size, shuffle=False, seed=config.seed),
        vocabulary=vocabulary,
        train_names=train_names,
        train_set=frozenset(train_names),
        validation_names=validation_names,
    )


class TextGenerationTask(Task):
    name = "text_generation"
    description = "Character language model on census first names or Hamlet, with in-graph sampling."
    config_class = Config
    # One small LSTM epoch pass over the names takes a few seconds on 2 cores.
    demo_overrides = {"epochs": 8, "units": 64, "num_samples": 100, "early_stopping_patience": 0}
    headline_metric = "test_perplexity"

    def build_data(self, config):
        return build_data(config)

    def build_model(self, config, data):
        from tasks.text_generation.model import build_model

        return build_model(config, data.vocabulary.size)

    def evaluate(self, model, data, config, out_dir):
        from tasks.text_generation.evaluate import evaluate
        from tasks.text_generation.export import make_generator

        return evaluate(model, data, config, make_generator(model, data.vocabulary, config), out_dir)

    def export(self, model, data, config, export_dir):
        from tasks.text_generation.export import export

        export(model, data.vocabulary, config, export_dir)

    def demo_inputs(self, config):
        return ["", "", "ma", "Chr"] if config.corpus == "names" else ["HAMLET\n", "To be"]

    def query_saved_model(self, loaded, inputs):
        import tensorflow as tf

        serve = loaded.signatures["serving_default"]
        texts = serve(prompt=tf.constant(inputs), temperature=tf.constant(0.8))["text"].numpy()
        return [t.decode("utf-8") for t in texts]

    def commands(self):
        from tasks.text_generation.gradients import gradients_command

        return {"sample": sample_command, "gradients": gradients_command}


def load_run(run_dir):
    """(config, data, keras model) of a finished ``train`` run directory."""
    import keras

    import layers  # noqa: F401  (registers the cells for load_model)
    from tasks.common.config import ConfigError
    from tasks.text_generation import model as _model  # noqa: F401  (registers Perplexity)

    run_dir = Path(run_dir)
    if not (run_dir / "model.keras").exists():
        raise ConfigError(f"{run_dir / 'model.keras'} not found: train first with "
                          f"`python -m tasks.text_generation train --out {run_dir}`.")
    saved = json.loads((run_dir / "config.json").read_text())
    names = {f.name for f in dataclasses.fields(Config)}
    config = Config(**{k: v for k, v in saved.items() if k in names})
    return config, build_data(config), keras.models.load_model(run_dir / "model.keras")


def sample_command(argv):
    """print sampled names (or text) from a trained run: --model DIR --n 20 --temperature 0.8"""
    parser = argparse.ArgumentParser(prog="python -m tasks.text_generation sample")
    parser.add_argument("--model", required=True, help="run directory of `train` (holds model.keras, config.json)")
    parser.add_argument("--n", type=int, default=20, help="how many samples (default 20)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy; higher is more varied")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most likely characters; 0 keeps all")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus probability mass; 1 keeps all")
    parser.add_argument("--prompt", default="", help="text the samples start with")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1 or args.temperature < 0 or args.top_k < 0 or not 0 < args.top_p <= 1:
        parser.error("need --n >= 1, --temperature >= 0, --top-k >= 0 and 0 < --top-p <= 1")

    import tensorflow as tf

    from tasks.text_generation.evaluate import is_well_formed, known_bigrams, sample_quality
    from tasks.text_generation.export import make_generator

    config, data, model = load_run(args.model)
    generator = make_generator(model, data.vocabulary, config)
    texts = generator.generate(
        tf.constant([args.prompt] * args.n), tf.constant(args.temperature), tf.constant(args.top_k),
        tf.constant(args.top_p), tf.constant([args.seed, 0], tf.int64),
    )["text"].numpy()
    texts = [t.decode("utf-8") for t in texts]
    if config.corpus != "names":
        print("\n-----\n".join(texts))
        return 0
    samples = []
    bigrams = known_bigrams(data.train_names)
    prompt_length = len(args.prompt)
    for text in texts:
        ended = len(text) - prompt_length < generator.max_new_characters
        samples.append((text, ended))
        tags = ["new" if text not in data.train_set else "in training"]
        if not is_well_formed(text, config.max_name_length, ended, bigrams):
            tags.append("ill formed")
        print(f"{text.capitalize():<16} {', '.join(tags)}")
    quality = sample_quality(samples, data.train_names, config.max_name_length)
    print(f"\n{quality['sample_new_share']:.0%} new, {quality['sample_well_formed_share']:.0%} well formed, "
          f"{quality['sample_new_and_well_formed_share']:.0%} both (temperature {args.temperature}, "
          f"top-k {args.top_k or 'off'}, top-p {args.top_p if args.top_p < 1 else 'off'})")
    return 0


TASK = TextGenerationTask()
