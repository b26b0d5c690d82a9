"""Running an eSpeak worker in a new Python process.

eSpeak NG keeps state between utterances in one process, so each bank or
chunk of speech is made in a fresh process to be the same whatever was
synthesised before it. The worker reads its JSON request on stdin and
writes its output to the path given as its argument.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])


@contextlib.contextmanager
def worker_output(worker: str, request: dict, file_name: str, what: str):
    """Runs ``worker`` ("module:function") on ``request``; yields the path of its output file.

    The file lives in a temporary directory removed when the ``with`` block ends.
    """
    module, function = worker.split(":")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / file_name
        result = subprocess.run(
            [sys.executable, "-c", f"from {module} import {function}; {function}()", str(path)],
            input=json.dumps(request), text=True, capture_output=True, env=environment, cwd=ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed:\n{result.stderr[-2000:]}")
        yield path
