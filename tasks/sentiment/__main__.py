"""``python -m tasks.sentiment train|demo|predict|evaluate ...``"""

from tasks.common.runner import main, quiet_tensorflow_logs

quiet_tensorflow_logs()  # before the task's modules import TensorFlow

from tasks.sentiment.train import TASK  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(TASK))
