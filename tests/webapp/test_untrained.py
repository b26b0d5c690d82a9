"""Building the untrained runs: processes (here threads, each with its own lock files) share the work."""

import threading
import time

from webapp import untrained


def test_two_builders_share_the_tasks_and_build_each_once(tmp_path, monkeypatch):
    built = []

    def builder(task):
        def build(run_dir, full_size=False):
            built.append((threading.current_thread().name, task))
            time.sleep(0.3)
            (run_dir / "saved_model").mkdir()

        return build

    tasks = [f"task{i}" for i in range(6)]
    monkeypatch.setattr(untrained, "BUILDERS", {task: builder(task) for task in tasks})
    threads = [threading.Thread(target=untrained.build_runs_shared, args=(tmp_path,), name=f"worker{i}")
               for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(task for _, task in built) == tasks  # every task built, none twice
    assert {name for name, _ in built} == {"worker0", "worker1"}  # both took a share
    assert all((tmp_path / task / "saved_model").is_dir() for task in tasks)
    # A later call finds every run finished and builds nothing.
    untrained.build_runs_shared(tmp_path)
    assert len(built) == len(tasks)
