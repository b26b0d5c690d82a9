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


def _shared_fixture_groups(item):
    """Where the module- and session-scoped fixtures this test uses are defined (pytest's own left out)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    groups = set()
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in ("module", "session") and definitions[-1].baseid:
            groups.add(definitions[-1].baseid)
    return groups


# First, so that the marks are there when xdist's own hook names the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # The tests that share a module or session fixture (a trained run, an export, the web app's
    # runs) form one xdist group: with `--dist loadgroup` one worker builds the fixture once (under
    # pytest 9.2 xdist 3.8 cannot rename the node ids it groups by, so today both workers may build it),
    # where plain load balancing would build it on both.
    # A test that reaches a conftest's session fixture and its own module's joins the conftest's group.
    for item in items:
        groups = _shared_fixture_groups(item)
        if groups:
            item.add_marker(pytest.mark.xdist_group(min(groups, key=len)))

    # Under a non-TensorFlow backend only the layer tests are meaningful; the
    # tasks export SavedModels and use tf.data.
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow-only test under {keras.backend.backend()}")
    for item in items:
        if "tests/layers" not in str(item.fspath) and "test_harness" not in str(item.fspath):
            item.add_marker(skip)
