"""All layer benchmarks in one command: ``python bench/layers.py``.

Each part is its own script (run them alone for one figure); this one runs
them in turn, each in a fresh process so one part's threads and compiled
functions do not slow the next.
"""

import subprocess
import sys
from pathlib import Path

PARTS = ["attention.py", "recurrent.py", "decoding.py", "spectrogram.py"]


def main():
    here = Path(__file__).resolve().parent
    status = 0
    for part in PARTS:
        print(f"\n===== bench/{part}", flush=True)
        status |= subprocess.call([sys.executable, str(here / part)],
                                  cwd=here.parent)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
