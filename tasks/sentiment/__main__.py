"""`python -m tasks.sentiment train|demo|predict|evaluate ...`"""

from tasks.common.runner import main
from tasks.sentiment.train import TASK

raise SystemExit(main(TASK))
