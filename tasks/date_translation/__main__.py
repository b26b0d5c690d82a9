"""``python -m tasks.date_translation train|demo|translate|evaluate|generate ...``"""

from tasks.common.runner import main, quiet_tensorflow_logs

quiet_tensorflow_logs()  # before the task's modules import TensorFlow

from tasks.date_translation.train import TASK  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(TASK))
