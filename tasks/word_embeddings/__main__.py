"""``python -m tasks.word_embeddings train|demo|analogy|similar|debias ...``"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.runner import main  # noqa: E402
from tasks.word_embeddings.train import TASK  # noqa: E402

raise SystemExit(main(TASK))
