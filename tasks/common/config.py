"""Config dataclasses and their command line.

Every task keeps its defaults in one frozen dataclass that inherits
:class:`TrainConfig`. Each field is declared with :func:`option`, which keeps
its default, one sentence on why it has that value, and, for an option that
only one model uses, the models it belongs to::

    num_heads: int = option(4, "Four heads of 12 dimensions at --model-dim 48.", applies_to="transformer")

:func:`parse_config` turns the fields into ``--field-name`` options with that
sentence as the help text, groups the per-model options under their model, and
refuses a per-model option given for another model. The measurements behind
the defaults live in ``bench/RESULTS.md``.
"""

import argparse
import dataclasses
import re
import sys
import textwrap
import typing

STRATEGIES = ("default", "mirrored", "multi_worker")


def option(default, help, *, applies_to=None):
    """A config field with its default and the sentence ``--help`` shows for it.

    Args:
        default: the field's default value (immutable: a number, string or tuple).
        help: one sentence on why the field has this default.
        applies_to: the value, or tuple of values, of the class's ``variant_field``
            (its ``--model``, ``--method`` or ``--corpus``) under which the field is
            used. ``None`` means under every one.
    """
    metadata = {"help": help}
    if applies_to is not None:
        metadata["applies_to"] = (applies_to,) if isinstance(applies_to, str) else tuple(applies_to)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Fields every task shares. Tasks subclass this and add their own."""

    # The field that chooses the model; per-model fields name its values in `applies_to`.
    variant_field: typing.ClassVar[str] = "model"

    out: str = option("", "Run directory (empty means runs/<task>), holding checkpoints, model, SavedModel and logs.")
    seed: int = option(0, "Fixes the data order, the splits and the initial weights, so runs repeat.")
    strategy: str = option("default", "tf.distribute strategy: default, mirrored (all local devices) or "
                                      "multi_worker (from TF_CONFIG).")
    logical_cpus: int = option(0, "Split the CPU into this many logical devices (0 leaves it), so "
                                  "MirroredStrategy can run without GPUs.")
    epochs: int = option(10, "Upper bound on passes over the training set.")
    batch_size: int = option(64, "Global batch size, split across replicas under a strategy.")
    learning_rate: float = option(1e-3, "Adam's default is a safe start for the small models here.")
    early_stopping_patience: int = option(0, "Epochs without a better val_loss before stopping; 0 disables it.")
    deterministic: bool = option(True, "TensorFlow op determinism, so the same seed gives the same metrics.json.")
    verbose: int = option(2, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
    resume_changed: bool = option(False, "Continue --out's checkpoint although options other than --epochs "
                                         "changed (fine-tuning); otherwise that is an error.")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A bad configuration value, reported to the user without a traceback."""


def field_help(config_class):
    """Maps every field name to its help sentence (empty for a field declared without :func:`option`)."""
    return {field.name: field.metadata.get("help", "") for field in dataclasses.fields(config_class)}


def _flag(name):
    return "--" + name.replace("_", "-")


def _base_type(annotation):
    """The concrete type of a field annotation (``Optional[int]`` -> int)."""
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "str": str, "bool": bool}.get(annotation, str)
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if args else str
    return annotation


def _parse_tuple(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


# ---------------------------------------------------------------------------
# Checks that the tasks' __post_init__ methods share.


def _expected(config, name):
    """'integer' for an int field, 'number' otherwise: the word the error message uses."""
    kind = _base_type(typing.get_type_hints(type(config)).get(name, float))
    return "integer" if kind is int else "number"


def require_positive(config, *names):
    """Raises :class:`ConfigError` for the first named field that is not above 0."""
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ConfigError(f"Invalid value for {_flag(name)}. Expected a positive {_expected(config, name)}. "
                              f"Received: {value}")


def require_non_negative(config, *names):
    """Raises :class:`ConfigError` for the first named field that is below 0."""
    for name in names:
        value = getattr(config, name)
        if not value >= 0:
            raise ConfigError(f"Invalid value for {_flag(name)}. Expected a non-negative "
                              f"{_expected(config, name)}. Received: {value}")


_INTERVAL = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])$")


def require_in_interval(config, name, interval):
    """Raises :class:`ConfigError` unless the field lies in ``interval``, written as in maths: "[0, 1)"."""
    match = _INTERVAL.match(interval)
    if not match:
        raise ValueError(f"Invalid interval {interval!r}. Expected a form such as '[0, 1)'.")
    opening, low, high, closing = match.groups()
    value = getattr(config, name)
    above = value >= float(low) if opening == "[" else value > float(low)
    below = value <= float(high) if closing == "]" else value < float(high)
    if not (above and below):
        raise ConfigError(f"Invalid value for {_flag(name)}. Expected a number in {interval}. Received: {value}")


def require_choice(config, name, choices):
    """Raises :class:`ConfigError` unless the field is one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f"Invalid value for {_flag(name)}. Expected one of {', '.join(choices)}. "
                          f"Received: {value!r}")


# ---------------------------------------------------------------------------
# The command line.


def add_config_arguments(parser, config_class, defaults=None):
    """Adds one ``--field-name`` option for every dataclass field.

    Options every model uses come first; each set of per-model options gets its own
    group, titled with the model it belongs to.
    """
    helps = field_help(config_class)
    hints = typing.get_type_hints(config_class)
    defaults = dict(defaults or {})
    variant_flag = _flag(config_class.variant_field)
    groups = {None: parser.add_argument_group(f"{config_class.__name__} fields")}
    for field in dataclasses.fields(config_class):
        applies_to = field.metadata.get("applies_to")
        if applies_to not in groups:
            groups[applies_to] = parser.add_argument_group(
                f"only with {variant_flag} {' or '.join(applies_to)}")
        group = groups[applies_to]
        default = defaults.get(field.name, field.default)
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        kind = _base_type(hints.get(field.name, str))
        flag = _flag(field.name)
        # argparse %-formats help strings: a sentence such as "decay to 5% over the run" must be escaped.
        help_text = f"{helps.get(field.name, '')} (default: {default!r})".replace("%", "%%")
        if kind is bool:
            group.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS, help=help_text,
            )
        elif typing.get_origin(kind) is tuple or kind is tuple:
            group.add_argument(
                flag, dest=field.name, type=_parse_tuple, default=argparse.SUPPRESS,
                metavar="A,B,...", help=help_text,
            )
        else:
            group.add_argument(
                flag, dest=field.name, type=kind, default=argparse.SUPPRESS,
                metavar=field.name.upper(), help=help_text,
            )


def _fields_for_other_variants(config, given, overrides):
    """Per-model fields set for another model: (names to refuse, names to drop back to their default).

    ``given`` are the names set on the command line and ``overrides`` those a demo
    sets. A field the command line sets for another model is refused, and so is one
    the demo sets for its own model choice; a demo's field for the model the
    command line replaced is dropped, so ``demo --model other`` still runs.
    """
    variant_field = type(config).variant_field
    variant = getattr(config, variant_field, None)
    refused, dropped = [], []
    for field in dataclasses.fields(config):
        applies_to = field.metadata.get("applies_to")
        if applies_to is None or variant in applies_to:
            continue
        if field.name in given or (field.name in overrides and variant_field not in given):
            refused.append(field)
        elif field.name in overrides:
            dropped.append(field.name)
    return refused, dropped


def config_from_namespace(config_class, namespace, defaults=None):
    """Builds the config from parsed arguments over ``defaults``; unknown names are ignored.

    Only the names present in ``namespace`` (argparse leaves out options not given)
    and in ``defaults`` (a demo's overrides) count as set, so a default never trips
    the per-model check.
    """
    names = {f.name for f in dataclasses.fields(config_class)}
    overrides = {k: v for k, v in dict(defaults or {}).items() if k in names}
    given = {k: v for k, v in vars(namespace).items() if k in names}
    config = config_class(**{**overrides, **given})
    refused, dropped = _fields_for_other_variants(config, given, overrides)
    if refused:
        variant_flag = _flag(config_class.variant_field)
        variant = getattr(config, config_class.variant_field)
        parts = [f"{_flag(field.name)} applies only to {variant_flag} {' or '.join(field.metadata['applies_to'])}"
                 if index == 0 else
                 f"{_flag(field.name)} only to {variant_flag} {' or '.join(field.metadata['applies_to'])}"
                 for index, field in enumerate(refused)]
        raise ConfigError(f"{', '.join(parts)}; not to {variant_flag} {variant}.")
    if dropped:
        config = config_class(**{k: v for k, v in {**overrides, **given}.items() if k not in dropped})
    validate_config(config)
    return config


def validate_config(config):
    """Checks the shared fields; tasks add their own checks in ``__post_init__``."""
    if isinstance(config, TrainConfig):
        require_choice(config, "strategy", STRATEGIES)
        require_positive(config, "epochs", "batch_size", "learning_rate")
        require_non_negative(config, "logical_cpus", "early_stopping_patience")


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that lines never break inside a hyphenated ``--option-name``."""

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def parse_config(config_class, argv=None, prog=None, defaults=None):
    """Parses ``argv`` into ``config_class``; bad input exits 2 with a one-line message."""
    parser = argparse.ArgumentParser(prog=prog, description=(config_class.__doc__ or "").strip(),
                                     formatter_class=_HelpFormatter)
    add_config_arguments(parser, config_class, defaults)
    namespace = parser.parse_args(argv)
    try:
        return config_from_namespace(config_class, namespace, defaults)
    except (ConfigError, ValueError, TypeError) as error:
        parser.error(str(error))


def fail(message, code=2):
    """Prints a one-line error and exits without a traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)
