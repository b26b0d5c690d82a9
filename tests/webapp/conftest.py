"""Untrained runs of every task (built once per test session, shared by xdist workers) and the app over them."""

import os
import threading

import pytest

from webapp.untrained import build_runs_shared, spoken_clip


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    # Under xdist every worker has its own basetemp inside the session's; there the
    # workers build the runs together in the session's and reuse them.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return build_runs_shared(root / "webapp-runs")  # the workers share the building, one task each at a time


@pytest.fixture(scope="session")
def clip():
    """(waveform, word start s, word end s): the clip the trigger-word run was tuned to fire on."""
    return spoken_clip()


@pytest.fixture(scope="session")
def spoken_date():
    """(waveform, ...) of a spoken date, for the speech-recognition page."""
    return spoken_clip("the fifth of march nineteen seventy nine", seconds=4.0, at=0.5)


@pytest.fixture(scope="session")
def app(runs_dir):
    from webapp.app import create_app

    return create_app(runs_dir, warmup=False)


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


def serve_in_thread(app):
    """Runs ``app`` on a free loopback port in a thread of this process; returns (url, stop)."""
    import socket
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)

    def stop():
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


@pytest.fixture(scope="session")
def live_server(app):
    """The same app on a real loopback socket (for the browser)."""
    url, stop = serve_in_thread(app)
    yield url
    stop()
