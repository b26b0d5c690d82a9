"""Config dataclasses and their command line.

Every task keeps its defaults in one frozen dataclass that inherits
:class:`TrainConfig`. Each field carries a trailing comment saying why it has
that value; :func:`parse_config` turns the fields into ``--field-name`` options
and uses those comments as the help text, so the defaults are documented in
exactly one place.
"""

import argparse
import dataclasses
import inspect
import re
import sys
import typing

STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Fields every task shares. Tasks subclass this and add their own."""

    out: str = ""  # Run directory; empty means runs/<task>. Holds checkpoints, model, SavedModel, logs.
    seed: int = 0  # Fixes the data order, the splits and the initial weights.
    strategy: str = "default"  # tf.distribute strategy: default, mirrored (all local devices) or multi_worker (TF_CONFIG).
    logical_cpus: int = 0  # Split the CPU into this many logical devices (0 = leave it); lets MirroredStrategy run without GPUs.
    epochs: int = 10  # Upper bound on passes over the training set.
    batch_size: int = 64  # Global batch size, split across replicas under a strategy.
    learning_rate: float = 1e-3  # Adam's default is a safe start for the small models here.
    early_stopping_patience: int = 0  # Epochs without val_loss improvement before stopping; 0 disables it.
    deterministic: bool = True  # Enable TensorFlow op determinism so the same seed gives the same metrics.json.
    verbose: int = 2  # Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.
    resume_changed: bool = False  # Continue --out's checkpoint although options other than --epochs changed (fine-tuning); otherwise that is an error.

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A bad configuration value, reported to the user without a traceback."""


def field_help(config_class):
    """Maps field names to the trailing comments in the class sources (base first)."""
    helps = {}
    for klass in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
            if match:
                helps[match.group(1)] = match.group(2).strip()
    return helps


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


def add_config_arguments(parser, config_class, defaults=None):
    """Adds one ``--field-name`` option for every dataclass field."""
    helps = field_help(config_class)
    hints = typing.get_type_hints(config_class)
    defaults = dict(defaults or {})
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    for field in dataclasses.fields(config_class):
        default = defaults.get(field.name, field.default)
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        kind = _base_type(hints.get(field.name, str))
        option = "--" + field.name.replace("_", "-")
        # argparse %-formats help strings: a comment such as "decay to 5% over the run" must be escaped.
        help_text = f"{helps.get(field.name, '')} (default: {default!r})".replace("%", "%%")
        if kind is bool:
            group.add_argument(
                option, dest=field.name, action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS, help=help_text,
            )
        elif typing.get_origin(kind) is tuple or kind is tuple:
            group.add_argument(
                option, dest=field.name, type=_parse_tuple, default=argparse.SUPPRESS,
                metavar="A,B,...", help=help_text,
            )
        else:
            group.add_argument(
                option, dest=field.name, type=kind, default=argparse.SUPPRESS,
                metavar=field.name.upper(), help=help_text,
            )


def config_from_namespace(config_class, namespace, defaults=None):
    """Builds the config from parsed arguments; unknown names are ignored."""
    names = {f.name for f in dataclasses.fields(config_class)}
    values = {k: v for k, v in dict(defaults or {}).items() if k in names}
    values.update({k: v for k, v in vars(namespace).items() if k in names})
    config = config_class(**values)
    validate_config(config)
    return config


def validate_config(config):
    """Checks the shared fields; tasks add their own checks in ``__post_init__``."""
    if isinstance(config, TrainConfig):
        if config.strategy not in STRATEGIES:
            raise ConfigError(
                f"Invalid value for --strategy. Expected one of {', '.join(STRATEGIES)}. "
                f"Received: {config.strategy!r}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(config, name)
            if value < 1:
                raise ConfigError(f"Invalid value for --{name.replace('_', '-')}. "
                                  f"Expected a positive integer. Received: {value}")
        if config.learning_rate <= 0:
            raise ConfigError(f"Invalid value for --learning-rate. Expected a positive number. "
                              f"Received: {config.learning_rate}")
        if config.logical_cpus < 0 or config.early_stopping_patience < 0:
            raise ConfigError("--logical-cpus and --early-stopping-patience must not be negative.")


def parse_config(config_class, argv=None, prog=None, defaults=None):
    """Parses ``argv`` into ``config_class``; bad input exits 2 with a one-line message."""
    parser = argparse.ArgumentParser(prog=prog, description=(config_class.__doc__ or "").strip())
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
