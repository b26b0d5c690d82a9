"""``python -m tasks.trigger_word train|demo|detect ...``"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.runner import main  # noqa: E402
from tasks.trigger_word.train import TASK  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(TASK))
