"""The config command line: help from the fields, per-model options, shared checks."""

import argparse
import dataclasses
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.common.config import (
    ConfigError,
    TrainConfig,
    config_from_namespace,
    field_help,
    option,
    parse_config,
    require_in_interval,
    require_non_negative,
    require_positive,
    validate_config,
)

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["date_translation", "sentiment", "text_generation", "trigger_word", "word_embeddings"]


def _config_class(task):
    return importlib.import_module(f"tasks.{task}.config").Config


def _per_model_fields(config_class):
    return {f.name: f.metadata["applies_to"] for f in dataclasses.fields(config_class) if "applies_to" in f.metadata}


def _variants(config_class):
    """Every value of the variant field that some per-model field names."""
    return sorted({v for applies_to in _per_model_fields(config_class).values() for v in applies_to})


def _flag(name):
    return "--" + name.replace("_", "-")


def _parse_error(config_class, argv, capsys, defaults=None):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(config_class, argv, prog="prog", defaults=defaults)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@dataclasses.dataclass(frozen=True)
class TinyConfig(TrainConfig):
    """Two models, one field each, and one field for both."""

    model: str = option("small", "small or large.")
    width: int = option(8, "Width of the small model.", applies_to="small")
    depth: int = option(2, "Depth of the large model.", applies_to="large")
    rate: float = option(0.5, "Decays to 5% over the run.")

    def __post_init__(self):
        if self.model not in ("small", "large"):
            raise ConfigError(f"Invalid value for --model. Received: {self.model!r}")


# ---------------------------------------------------------------------------
# Help text comes from the fields.


def test_option_keeps_the_help_and_the_models_in_the_field_metadata():
    fields = {f.name: f for f in dataclasses.fields(TinyConfig)}
    assert fields["width"].default == 8
    assert fields["width"].metadata == {"help": "Width of the small model.", "applies_to": ("small",)}
    assert "applies_to" not in fields["rate"].metadata
    assert field_help(TinyConfig)["depth"] == "Depth of the large model."
    # A subclass that redeclares a shared field replaces its help, as it replaces its default.
    assert field_help(TinyConfig)["epochs"] == field_help(TrainConfig)["epochs"]
    date_config = _config_class("date_translation")
    assert field_help(date_config)["epochs"] != field_help(TrainConfig)["epochs"]


@pytest.mark.parametrize("task", TASKS)
def test_every_field_says_why_in_one_sentence_without_lab_notes(task):
    for name, text in field_help(_config_class(task)).items():
        assert text, f"{task}.{name} has no help"
        assert text.endswith(".") and len(re.findall(r"[.!?](?=\s|$)", text)) == 1, f"{task}.{name}: {text!r}"
        assert not re.search(r"\bissue\b|\bmeasured\b|\(bench\)", text, re.I), f"{task}.{name}: {text!r}"


@pytest.mark.parametrize("task", TASKS)
def test_help_lists_every_field_with_its_sentence_and_default(task, capsys):
    config_class = _config_class(task)
    with pytest.raises(SystemExit) as exit_info:
        parse_config(config_class, ["--help"], prog=f"python -m tasks.{task} train")
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(config_class):
        sentence = " ".join(field.metadata["help"].split())
        # The sentence (with a literal '%': argparse must not have treated it as a format) and then the default.
        assert f"{sentence} (default: {field.default!r})" in text, field.name


def test_help_groups_per_model_options_under_their_model(capsys):
    with pytest.raises(SystemExit):
        parse_config(_config_class("date_translation"), ["--help"], prog="prog")
    text = capsys.readouterr().out

    def listed(flag):  # where the option's own help entry starts (the usage line lists it first)
        return text.index(f"\n  {flag} ")

    transformer = text.index("only with --model transformer:")
    attention = text.index("only with --model attention:")
    assert listed("--train-size") < attention < listed("--encoder-units") < transformer < listed("--num-heads")
    # Shared options are not in a per-model group, wherever they are declared.
    assert listed("--beam-width") < attention
    # A long option name in a help sentence is never broken at its hyphens.
    assert "--model-\n" not in text


def test_help_shows_a_demo_override_as_the_default(capsys):
    with pytest.raises(SystemExit):
        parse_config(TinyConfig, ["--help"], prog="prog", defaults={"width": 3})
    text = " ".join(capsys.readouterr().out.split())
    assert "Width of the small model. (default: 3)" in text
    assert "Decays to 5% over the run. (default: 0.5)" in text


# ---------------------------------------------------------------------------
# Per-model options.


def test_an_option_for_another_model_is_refused_naming_both(capsys):
    error = _parse_error(_config_class("date_translation"), ["--model", "attention", "--num-heads", "8"], capsys)
    assert "--num-heads applies only to --model transformer; not to --model attention." in error
    # The default model counts as chosen, and a value equal to the default is still a value given.
    error = _parse_error(_config_class("date_translation"), ["--num-heads", "4"], capsys)
    assert "--num-heads" in error and "--model attention" in error
    error = _parse_error(_config_class("date_translation"), ["--model", "transformer", "--encoder-units", "8"], capsys)
    assert "--encoder-units applies only to --model attention; not to --model transformer." in error


@pytest.mark.parametrize("task, argv, option_name, model", [
    ("sentiment", ["--model", "cnn", "--units", "32"], "--units", "lstm or ensemble"),
    ("sentiment", ["--model", "average", "--dropout", "0.2"], "--dropout", "lstm or transformer or cnn or ensemble"),
    ("sentiment", ["--model", "lstm", "--filters", "10"], "--filters", "cnn or ensemble"),
    ("sentiment", ["--model", "cnn", "--ensemble-members", "cnn,gru"], "--ensemble-members", "ensemble"),
    ("text_generation", ["--corpus", "hamlet", "--max-name-length", "8"], "--max-name-length", "names"),
    ("text_generation", ["--sequence-length", "50"], "--sequence-length", "hamlet"),
    ("word_embeddings", ["--method", "glove", "--negative", "10"], "--negative", "skipgram or cbow"),
    ("word_embeddings", ["--method", "cbow", "--x-max", "10"], "--x-max", "glove"),
])
def test_per_model_options_of_every_task_are_refused_for_another_model(task, argv, option_name, model, capsys):
    error = _parse_error(_config_class(task), argv, capsys)
    assert f"{option_name} applies only to --" in error and model in error


def test_every_refused_option_is_named(capsys):
    error = _parse_error(_config_class("date_translation"), ["--model-dim", "64", "--dropout", "0.1"], capsys)
    assert "--model-dim applies only to --model transformer, --dropout only to --model transformer" in error


@pytest.mark.parametrize("task", TASKS)
def test_defaults_never_trip_the_per_model_check(task):
    config_class = _config_class(task)
    for variant in _variants(config_class) or [None]:
        argv = [] if variant is None else [_flag(config_class.variant_field), variant]
        config = parse_config(config_class, argv, prog="prog")
        assert config == config_class(**({} if variant is None else {config_class.variant_field: variant}))


@pytest.mark.parametrize("task", TASKS)
def test_per_model_fields_name_real_models(task):
    config_class = _config_class(task)
    for variant in _variants(config_class):
        config_class(**{config_class.variant_field: variant})  # a known model, or ConfigError
    if _per_model_fields(config_class):
        assert config_class.variant_field in {f.name for f in dataclasses.fields(config_class)}
        with pytest.raises(ConfigError):
            config_class(**{config_class.variant_field: "no-such-model"})


def test_per_model_options_for_the_chosen_model_are_accepted():
    config = parse_config(_config_class("date_translation"), ["--model", "transformer", "--num-heads", "8",
                                                              "--model-dim", "64"])
    assert (config.model, config.num_heads, config.model_dim) == ("transformer", 8, 64)
    sentiment = parse_config(_config_class("sentiment"), ["--model", "ensemble", "--units", "32", "--filters", "10"])
    assert (sentiment.units, sentiment.filters) == (32, 10)


def test_demo_overrides_for_a_model_the_command_line_replaced_are_dropped(capsys):
    demo = {"model": "small", "width": 3, "epochs": 2}
    assert parse_config(TinyConfig, [], defaults=demo) == TinyConfig(model="small", width=3, epochs=2)
    # `demo --model large`: the demo's width belongs to the small model and goes back to its default.
    assert parse_config(TinyConfig, ["--model", "large"], defaults=demo) == TinyConfig(model="large", epochs=2)
    # Options given on the command line are still checked against the chosen model.
    assert "--width applies only to --model small" in _parse_error(
        TinyConfig, ["--model", "large", "--width", "4"], capsys, defaults=demo)
    # A demo whose overrides contradict its own model is a mistake in the demo, refused as well.
    assert "--depth applies only to --model large" in _parse_error(
        TinyConfig, [], capsys, defaults={"model": "small", "depth": 3})


def test_config_from_namespace_counts_only_the_names_argparse_set():
    # argparse leaves options that were not given out of the namespace (their default is SUPPRESS).
    assert config_from_namespace(TinyConfig, argparse.Namespace(model="large")) == TinyConfig(model="large")
    with pytest.raises(ConfigError, match="--width applies only to --model small; not to --model large"):
        config_from_namespace(TinyConfig, argparse.Namespace(model="large", width=8))
    # Names that are not fields (another parser's options) are ignored.
    assert config_from_namespace(TinyConfig, argparse.Namespace(width=4, command="train")).width == 4


@pytest.mark.parametrize("task", TASKS)
def test_each_task_demo_parses_for_its_own_model_and_every_other(task):
    task_object = importlib.import_module(f"tasks.{task}.train").TASK
    assert task_object.config_class is _config_class(task)
    config_class, demo = task_object.config_class, task_object.demo_overrides
    assert demo, f"{task} has no demo settings"
    config = parse_config(config_class, [], defaults=demo)
    assert all(getattr(config, name) == value for name, value in demo.items())
    for variant in _variants(config_class):
        assert getattr(parse_config(config_class, [_flag(config_class.variant_field), variant], defaults=demo),
                       config_class.variant_field) == variant


@pytest.mark.e2e
def test_the_command_line_refuses_another_models_option_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "tasks.date_translation", "train", "--model", "attention", "--num-heads", "8"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "error: --num-heads applies only to --model transformer; not to --model attention.")


# ---------------------------------------------------------------------------
# Shared checks.


def test_require_positive_says_integer_or_number_from_the_field_type():
    with pytest.raises(ConfigError, match=r"--batch-size\. Expected a positive integer\. Received: 0"):
        validate_config(TrainConfig(batch_size=0))
    with pytest.raises(ConfigError, match=r"--learning-rate\. Expected a positive number\. Received: -0.1"):
        validate_config(TrainConfig(learning_rate=-0.1))
    with pytest.raises(ConfigError, match=r"--early-stopping-patience\. Expected a non-negative integer"):
        validate_config(TrainConfig(early_stopping_patience=-1))
    with pytest.raises(ConfigError, match=r"--strategy\. Expected one of default, mirrored, multi_worker"):
        validate_config(TrainConfig(strategy="tpu"))
    validate_config(TrainConfig(logical_cpus=0, early_stopping_patience=0))
    require_positive(TrainConfig(), "epochs", "batch_size")
    require_non_negative(TrainConfig(), "logical_cpus")


@pytest.mark.parametrize("interval, inside, outside", [
    ("[0, 1)", [0.0, 0.5, 0.999], [-0.01, 1.0, 2.0]),
    ("[0, 1]", [0.0, 1.0], [-0.01, 1.01]),
    ("(0, 0.5)", [0.01, 0.49], [0.0, 0.5]),
    ("(0, 1]", [1.0, 0.001], [0.0, 1.5]),
])
def test_require_in_interval_honours_open_and_closed_ends(interval, inside, outside):
    for value in inside:
        require_in_interval(TinyConfig(rate=value), "rate", interval)
    for value in outside:
        with pytest.raises(ConfigError, match=re.escape(f"--rate. Expected a number in {interval}. Received: {value}")):
            require_in_interval(TinyConfig(rate=value), "rate", interval)
    with pytest.raises(ValueError, match="Invalid interval"):
        require_in_interval(TinyConfig(), "rate", "0 to 1")


@pytest.mark.parametrize("task, values, message", [
    ("date_translation", {"num_heads": 0}, "--num-heads. Expected a positive integer"),
    ("date_translation", {"stop_at_exact_match": 1.5}, "--stop-at-exact-match. Expected a number in [0, 1]"),
    ("sentiment", {"dropout": 1.0}, "--dropout. Expected a number in [0, 1)"),
    ("text_generation", {"top_p": 0.0}, "--top-p. Expected a number in (0, 1]"),
    ("text_generation", {"holdout_fraction": 0.5}, "--holdout-fraction. Expected a number in (0, 0.5)"),
    ("text_generation", {"clipvalue": -1.0}, "--clipvalue. Expected a non-negative number"),
    ("trigger_word", {"near_miss_weight": 0.0}, "--near-miss-weight. Expected a positive number"),
    ("trigger_word", {"positive_crop_fraction": 1.5}, "--positive-crop-fraction. Expected a number in [0, 1]"),
    ("word_embeddings", {"sample": 1.0}, "--sample. Expected a number in [0, 1)"),
    ("word_embeddings", {"min_learning_rate": -1e-4}, "--min-learning-rate. Expected a non-negative number"),
])
def test_task_checks_use_the_shared_messages(task, values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _config_class(task)(**values)
