"""``python -m tasks.speech_recognition train|demo|transcribe ...``"""

from tasks.common.runner import main, quiet_tensorflow_logs

quiet_tensorflow_logs()  # before the task's modules import TensorFlow

from tasks.speech_recognition.train import TASK  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(TASK))
