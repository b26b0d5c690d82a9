import os

# The backend must be chosen before Keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests are small; one intra-op thread keeps the two xdist workers from fighting.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts from the float32 policy and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session()
    yield
    keras.config.set_dtype_policy("float32")


def pytest_collection_modifyitems(config, items):
    # Under a non-TensorFlow backend only the layer tests are meaningful; the
    # tasks export SavedModels and use tf.data.
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow-only test under {keras.backend.backend()}")
    for item in items:
        if "tests/layers" not in str(item.fspath) and "test_harness" not in str(item.fspath):
            item.add_marker(skip)
