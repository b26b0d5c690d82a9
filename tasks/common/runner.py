"""The command line every task shares, and a map of the training library.

A task's ``train.py`` reads top to bottom and calls the library's steps:

    run = RunDir.prepare(config, NAME)             # tasks/common/run_dir.py: options, seeds, strategy
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config, data)
    fit_resumable(model, run, data.train, data.validation, callbacks)   # tasks/common/fit.py: resume
    model = run.save_model(model)                  # model.keras
    metrics = evaluate(model, data, config, run.dir)
    run.export(lambda directory: export(model, directory))             # saved_model/
    demo = run.verify_saved_model(query, inputs)   # reload it, ask it the demo inputs
    run.write(metrics, demo, ...)                  # metrics.json, history.csv, curves, demo.json

Where things live:

* ``run_dir.py``: :class:`RunDir`, the run directory that ``train`` writes and
  ``evaluate``/``predict``/``detect`` open; atomic writes; history plots.
* ``fit.py``: resume after ``kill -9`` (checkpoint, data-order replay, RNG
  state), early stopping, and the multi-worker training loop.
* ``strategy.py``: devices, seeds, ``tf.distribute`` strategies.
* this file: :class:`TaskCommands` (what ``python -m tasks.<task>`` offers)
  and :func:`main`, which parses the config and runs the command.
"""

import dataclasses
import os
import sys
from typing import Callable

from tasks.common.config import ConfigError, TrainConfig, fail, parse_config
from tasks.common.run_dir import RunDir, atomic_write_json, atomic_write_text, log, plot_history


def quiet_tensorflow_logs():
    """Hides TensorFlow's C++ start-up chatter (set before TensorFlow is imported).

    Called first thing by ``python -m tasks`` and every ``python -m tasks.<task>``;
    library modules leave the environment alone.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclasses.dataclass(frozen=True)
class TaskCommands:
    """What ``python -m tasks.<task>`` needs to know about a task.

    ``train(config, restart_on_change=False)`` is the task's ``train.py``
    function; ``commands()`` returns the extra subcommands (name -> ``fn(argv)
    -> exit status``), imported only when asked for.
    """

    name: str
    description: str
    config_class: type
    train: Callable
    # Config overrides for `make demo`: small enough to show the task end to end in a minute or two.
    demo_overrides: dict = dataclasses.field(default_factory=dict)
    commands: Callable = dict


def train(task, config, restart_on_change=False):
    """Runs ``task``'s train function with ``config``; returns its metrics."""
    return task.train(config, restart_on_change=restart_on_change)


def _usage(task):
    lines = [f"usage: python -m tasks.{task.name} COMMAND [options]", "", task.description, "",
             "commands:",
             "  train     train, evaluate and export (see `train --help` for every config field)",
             "  demo      `train` with the small quickstart settings"]
    for name, function in sorted(task.commands().items()):
        doc = (function.__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<9} {doc[0] if doc else ''}")
    return "\n".join(lines)


def main(task, argv=None):
    """Entry point of ``python -m tasks.<task>``; returns the exit status."""
    quiet_tensorflow_logs()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage(task))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command in ("train", "demo"):
            defaults = task.demo_overrides if command == "demo" else None
            config = parse_config(task.config_class, rest, prog=f"python -m tasks.{task.name} {command}",
                                  defaults=defaults)
            # A demo is disposable: when its settings changed (a newer checkout), it starts over.
            train(task, config, restart_on_change=command == "demo")
            return 0
        commands = task.commands()
        if command not in commands:
            known = ", ".join(["train", "demo"] + sorted(commands))
            fail(f"unknown command {command!r} for task {task.name}. Known commands: {known}")
        return int(commands[command](rest) or 0)
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        print(f"\n[{task.name}] interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


__all__ = ["RunDir", "TaskCommands", "TrainConfig", "main", "train", "atomic_write_json",
           "atomic_write_text", "log", "plot_history", "quiet_tensorflow_logs"]
