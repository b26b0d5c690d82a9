"""``python -m tasks``: list the tasks, or run the quickstart demo of every task.

    python -m tasks                 # list tasks and their one-line descriptions
    python -m tasks demo            # train, evaluate, export and query each task
    python -m tasks demo --only sentiment,date_translation --out runs/demo

Listing reads each task's ``__init__.py`` without importing TensorFlow, so it
is instant. The demo runs each task in its own process (so one task's graph,
threads and memory never leak into the next) and ends with a results table.
"""

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tasks.common.runner import quiet_tensorflow_logs

TASKS_DIR = Path(__file__).resolve().parent


def discover_tasks():
    """Task name -> one-line description, from ``tasks/<task>/__init__.py``."""
    found = {}
    for init in sorted(TASKS_DIR.glob("*/__init__.py")):
        name = init.parent.name
        if name == "common" or not (init.parent / "__main__.py").exists():
            continue
        description = ""
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DESCRIPTION" for t in node.targets
            ):
                description = ast.literal_eval(node.value)
        found[name] = description
    return found


def list_tasks(tasks):
    width = max((len(n) for n in tasks), default=4)
    print("Tasks (python -m tasks.<task> --help):")
    for name, description in tasks.items():
        print(f"  {name:<{width}}  {description}")


def _headline(metrics, preferred=None):
    if preferred in metrics and isinstance(metrics[preferred], (int, float)):
        return f"{preferred}={metrics[preferred]:.4g}"
    for key in sorted(metrics):
        value = metrics[key]
        if key.startswith("test") and isinstance(value, (int, float)):
            return f"{key}={value:.4g}"
    for key, value in metrics.items():
        if isinstance(value, float):
            return f"{key}={value:.4g}"
    return "-"


def run_demo(tasks, out_root, extra_args):
    out_root = Path(out_root)
    rows, failures = [], []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for index, name in enumerate(tasks, 1):
        out = out_root / name
        command = [sys.executable, "-m", f"tasks.{name}", "demo", "--out", str(out)] + extra_args
        print(f"\n=== [{index}/{len(tasks)}] {name}: {' '.join(command[1:])}", flush=True)
        started = time.time()
        status = subprocess.call(command, env=env)
        seconds = time.time() - started
        if status != 0:
            failures.append(name)
            rows.append((name, "FAILED", f"{seconds:.0f}s", f"exit status {status}"))
            continue
        metrics = json.loads((out / "metrics.json").read_text())
        demo = json.loads((out / "demo.json").read_text()) if (out / "demo.json").exists() else []
        example = "; ".join(f"{d['input']!r} -> {d['output']}" for d in demo[:2])
        run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
        rows.append((name, _headline(metrics, run.get("headline_metric")), f"{seconds:.0f}s", example))
    print("\n=== Results")
    headers = ("task", "metric", "time", "SavedModel answers")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(3)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths + [0])))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths + [0])))
    if failures:
        print(f"\nFailed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    quiet_tensorflow_logs()  # the demo's task processes inherit it
    tasks = discover_tasks()
    parser = argparse.ArgumentParser(prog="python -m tasks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="list the tasks")
    demo = sub.add_parser("demo", help="run every task's quickstart")
    demo.add_argument("--only", default="", help="comma-separated task names (default: all)")
    demo.add_argument("--out", default="runs/demo", help="root directory of the demo runs")
    sub.add_parser("serve", add_help=False, help="the web app over the runs' SavedModels: serve --runs DIR [--port N]")
    args, extra = parser.parse_known_args(argv)
    if args.command == "serve":
        from webapp.__main__ import main as serve

        return serve(extra)
    if args.command in (None, "list"):
        list_tasks(tasks)
        return 0
    if extra and args.command != "demo":
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    selected = [t.strip() for t in args.only.split(",") if t.strip()] or list(tasks)
    unknown = [t for t in selected if t not in tasks]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(tasks)}")
    return run_demo(selected, args.out, extra)


if __name__ == "__main__":
    raise SystemExit(main())
