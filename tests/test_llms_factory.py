"""Torch threads of the local backend (llms/factory.py): explicit, $ADS_THREADS, or the cores other
processes leave free now (llms/cpuload.py); and one compute lock shared by every local model."""

from __future__ import annotations

import pytest
import torch

from llms import ModelError, factory


@pytest.fixture(autouse=True)
def keep_threads():
    before, pinned = torch.get_num_threads(), list(factory._PINNED)
    yield
    torch.set_num_threads(before)
    factory._PINNED[:] = pinned


class FakeWatch:
    def __init__(self, cores: int, busy: float):
        self.cores, self.busy = list(range(cores)), busy

    def others_busy(self) -> float:
        return self.busy


def test_auto_threads_leave_the_cores_other_processes_use_now(monkeypatch):
    from llms import cpuload

    for busy, threads in ((0.0, 4), (1.2, 3), (2.6, 1), (3.6, 1), (4.0, 1)):
        monkeypatch.setattr(cpuload, "_WATCH", FakeWatch(4, busy))
        assert factory.auto_threads() == threads


def test_explicit_or_env_pins_the_count_else_it_follows_the_machine(monkeypatch):
    from llms import cpuload

    watch = FakeWatch(2, 0.0)
    monkeypatch.setattr(cpuload, "_WATCH", watch)
    factory._PINNED.clear()
    monkeypatch.delenv("ADS_THREADS", raising=False)
    assert factory.set_threads() == 2 == torch.get_num_threads()
    watch.busy = 1.0  # another process started computing: the next batch steps down ...
    assert factory.follow_threads() == 1 == torch.get_num_threads()
    watch.busy = 0.0  # ... and back up once it ended
    assert factory.follow_threads() == 2
    monkeypatch.setenv("ADS_THREADS", "1")
    assert factory.set_threads() == 1
    watch.busy = 0.0
    assert factory.follow_threads() == 1  # pinned: the machine is not followed
    monkeypatch.delenv("ADS_THREADS")
    assert factory.set_threads(2) == 2 and factory.follow_threads() == 2


def test_cpu_watch_subtracts_this_process_own_time(monkeypatch):
    from llms import cpuload

    samples = iter([(0.0, 10.0, 5.0), (1.0, 12.5, 5.5), (2.0, 14.5, 6.5)])
    monkeypatch.setattr(cpuload, "_read", lambda cores: next(samples))
    monkeypatch.setattr(cpuload.time, "sleep", lambda s: None)
    w = cpuload.CpuWatch(window=10.0)
    w.cores = [0, 1]
    w._thread = object()  # no background thread: samples are taken by hand
    w._sample(), w._sample()
    assert w.others_busy() == pytest.approx(2.0)  # 2.5 busy core-seconds in 1 s, 0.5 of them ours
    w._sample()
    assert w.others_busy() == pytest.approx(1.5)  # (4.5 - 1.5) / 2 s over the whole window


@pytest.mark.process
def test_cpu_watch_sees_a_busy_process_and_forgets_it_within_seconds():
    import subprocess
    import sys
    import time

    from llms.cpuload import CpuWatch

    w = CpuWatch()
    w.start()
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 4: pass"])
    try:
        time.sleep(2.0)
        busy = w.others_busy()
    finally:
        spin.wait()
    time.sleep(2.0)
    assert busy > 0.6, busy  # one core spinning
    assert w.others_busy() < busy - 0.5  # ended: not counted a minute on, as the load average would


def test_a_bad_ads_threads_says_what_to_write(monkeypatch):
    monkeypatch.setenv("ADS_THREADS", "two")
    with pytest.raises(ModelError, match="whole number"):
        factory.set_threads()


def test_local_models_share_one_compute_lock():
    from llms.local import COMPUTE_LOCK, LocalLLM

    a, b = LocalLLM(spec="local:a"), LocalLLM(spec="local:b")
    assert a._lock is b._lock is COMPUTE_LOCK
