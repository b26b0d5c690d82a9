import os

# The backend must be chosen before Keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests are small; one intra-op thread keeps the two xdist workers from fighting.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
if os.environ["KERAS_BACKEND"] == "jax":
    # JAX runs a test's ops one at a time, each compiled by XLA on first use; the tests' tensors are tiny,
    # so XLA's optimisation passes cost far more than they save.
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import keras  # noqa: E402
import pytest  # noqa: E402
from _pytest.nodes import NodeId  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts from the float32 policy and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    # Without a full garbage collection each time (half a second of a worker's time per test); Python's
    # own collector still runs.
    keras.utils.clear_session(free_memory=False)
    yield
    keras.config.set_dtype_policy("float32")


def _shared_fixtures(item):
    """The module- and session-scoped fixtures this test uses (pytest's own left out), as "baseid::name"."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    shared = []
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in ("module", "session") and definitions[-1].baseid:
            shared.append(f"{definitions[-1].baseid}::{name}")
    return shared


def _fixture_groups(items):
    """Each test's group: the tests linked through shared fixtures, each group named after its first fixture.

    Tests are linked when they use one module or session fixture, and groups
    join when one test uses fixtures of two, so one worker builds each
    fixture once, while a module's tests that share nothing stay free to run
    on either worker.
    """
    parent = {}

    def root(key):
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    shared = {item: _shared_fixtures(item) for item in items}
    for fixtures in shared.values():
        for other in fixtures[1:]:
            a, b = root(fixtures[0]), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {item: root(fixtures[0]) for item, fixtures in shared.items() if fixtures}


def pytest_collection_modifyitems(config, items):
    # The tests that share a module or session fixture (a trained run, an export, the web app's
    # runs) form one xdist group: with `--dist loadgroup` one worker builds the fixture once, where
    # plain load balancing would build it on both. loadgroup schedules by an "@group" suffix of the
    # node id; xdist's own hook writes it to `item._nodeid`, which pytest 9 no longer reads (the id
    # lives in `item._id`), so the suffix is written here instead of marking the tests.
    if getattr(config.option, "loadgroup", False):
        for item, group in _fixture_groups(items).items():
            item._id = NodeId.parse(f"{item.nodeid}@{group.replace('/', '_').replace('::', '_')}")

    # Under a non-TensorFlow backend only the layer tests are meaningful; the
    # tasks export SavedModels and use tf.data.
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow-only test under {keras.backend.backend()}")
    for item in items:
        if "tests/layers" not in str(item.fspath) and "test_harness" not in str(item.fspath):
            item.add_marker(skip)
