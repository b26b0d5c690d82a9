"""``python -m tasks.text_generation train|demo|sample|gradients``."""

from tasks.common.runner import main
from tasks.text_generation.train import TASK

if __name__ == "__main__":
    raise SystemExit(main(TASK))
