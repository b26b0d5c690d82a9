"""``python -m tasks.date_translation train|demo|translate|evaluate|generate ...``"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.runner import main  # noqa: E402
from tasks.date_translation.train import TASK  # noqa: E402

raise SystemExit(main(TASK))
