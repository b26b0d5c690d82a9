"""Character language model, read top to bottom: data, then :func:`train` (model, fit, evaluate, export).

    python -m tasks.text_generation train --out runs/names                 # census names, LSTM
    python -m tasks.text_generation train --cell gru --num-layers 2 --clipnorm 5
    python -m tasks.text_generation train --corpus hamlet --num-layers 2 --units 256 --out runs/hamlet
    python -m tasks.text_generation sample --model runs/names --n 20 --temperature 0.8
    python -m tasks.text_generation gradients --out runs/gradients          # vanishing-gradient plot
"""

import argparse
import dataclasses

from data import names as corpora
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands
from tasks.text_generation.config import Config


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


NAME = "text_generation"
# `make demo`: a small LSTM for a few epochs over the names, seconds per epoch on two cores.
DEMO_OVERRIDES = {"epochs": 8, "units": 64, "num_samples": 100, "early_stopping_patience": 0}


def demo_inputs(config):
    return ["", "", "ma", "Chr"] if config.corpus == "names" else ["HAMLET\n", "To be"]


def query_saved_model(loaded, prompts):
    import tensorflow as tf

    serve = loaded.signatures["serving_default"]
    texts = serve(prompt=tf.constant(prompts), temperature=tf.constant(0.8))["text"].numpy()
    return [t.decode("utf-8") for t in texts]


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a character model into ``config.out``; returns the metrics."""
    from tasks.text_generation.evaluate import evaluate
    from tasks.text_generation.export import export, make_generator
    from tasks.text_generation.model import build_model

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change)
    run.log("building data")
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config, data.vocabulary.size)
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    model = fit_resumable(model, run, data.train, data.validation)
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    run.log("evaluating")
    metrics = evaluate(model, data, config, make_generator(model, data.vocabulary, config), run.dir)
    run.export(lambda directory: export(model, data.vocabulary, config, directory))
    demo = run.verify_saved_model(query_saved_model, demo_inputs(config))
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_perplexity")


def load_run(run_dir):
    """(config, data, keras model) of a finished ``train`` run directory."""
    import layers  # noqa: F401  (registers the cells for load_model)
    from tasks.text_generation import model as _model  # noqa: F401  (registers Perplexity)

    run = RunDir.open(run_dir, NAME, needs=("model.keras", "config.json"))
    config = run.read_config(Config)
    return config, build_data(config), run.load_model()


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


def commands():
    from tasks.text_generation.gradients import gradients_command

    return {"sample": sample_command, "gradients": gradients_command}


TASK = TaskCommands(name=NAME, config_class=Config, train=train, demo_overrides=DEMO_OVERRIDES, commands=commands,
                    description="Character language model on census first names or Hamlet, with in-graph sampling.")
