"""Torch threads of the local backend (llms/threads.py): explicit, $ADS_THREADS, or the cores other
processes leave free now (llms/threads.py); and one compute lock shared by every local model."""

from __future__ import annotations

import pytest
import torch

from llms import ModelError, threads


@pytest.fixture(autouse=True)
def keep_threads():
    before, pinned = torch.get_num_threads(), list(threads._PINNED)
    yield
    torch.set_num_threads(before)
    threads._PINNED[:] = pinned


class FakeWatch:
    def __init__(self, cores: int, busy: float):
        self.cores, self.busy = list(range(cores)), busy

    def others_busy(self) -> float:
        return self.busy


def test_auto_threads_leave_the_cores_other_processes_use_now(monkeypatch):
    for busy, want in ((0.0, 4), (1.2, 3), (2.6, 1), (3.6, 1), (4.0, 1)):
        monkeypatch.setattr(threads, "_WATCH", FakeWatch(4, busy))
        assert threads.auto_threads() == want


def test_explicit_or_env_pins_the_count_else_it_follows_the_machine(monkeypatch):
    watch = FakeWatch(2, 0.0)
    monkeypatch.setattr(threads, "_WATCH", watch)
    threads._PINNED.clear()
    monkeypatch.delenv("ADS_THREADS", raising=False)
    assert threads.set_threads() == 2 == torch.get_num_threads()
    watch.busy = 1.0  # another process started computing: the next batch steps down ...
    assert threads.follow_threads() == 1 == torch.get_num_threads()
    watch.busy = 0.0  # ... and back up once it ended
    assert threads.follow_threads() == 2
    monkeypatch.setenv("ADS_THREADS", "1")
    assert threads.set_threads() == 1
    watch.busy = 0.0
    assert threads.follow_threads() == 1  # pinned: the machine is not followed
    monkeypatch.delenv("ADS_THREADS")
    assert threads.set_threads(2) == 2 and threads.follow_threads() == 2


def test_cpu_watch_subtracts_this_process_own_time(monkeypatch):
    samples = iter([(0.0, 10.0, 5.0), (1.0, 12.5, 5.5), (2.0, 14.5, 6.5)])
    monkeypatch.setattr(threads, "_read", lambda cores: next(samples))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    w = threads.CpuWatch(window=10.0)
    w.cores = [0, 1]
    w._thread = object()  # no background thread: samples are taken by hand
    w._sample(), w._sample()
    assert w.others_busy() == pytest.approx(2.0)  # 2.5 busy core-seconds in 1 s, 0.5 of them ours
    w._sample()
    assert w.others_busy() == pytest.approx(1.5)  # (4.5 - 1.5) / 2 s over the whole window


def test_cpu_watch_sees_a_busy_process_and_forgets_it_within_seconds(spawn):
    import sys
    import time

    from llms.threads import CpuWatch

    w = CpuWatch()
    w.start()
    time.sleep(1.5)
    before = w.others_busy()
    if before > len(w.cores) - 1.2:
        pytest.skip(f"other processes already keep {before:.1f} of {len(w.cores)} cores busy: one more cannot show")
    spin = spawn([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 4: pass"])
    try:
        time.sleep(2.0)
        busy = w.others_busy()
    finally:
        spin.wait()
    time.sleep(2.0)
    assert busy > before + 0.6, (before, busy)  # one more core spinning
    assert w.others_busy() < busy - 0.5  # ended: not counted a minute on, as the load average would


def test_a_bad_ads_threads_says_what_to_write(monkeypatch):
    monkeypatch.setenv("ADS_THREADS", "two")
    with pytest.raises(ModelError, match="whole number"):
        threads.set_threads()


def test_local_models_share_one_compute_lock():
    from llms.local import COMPUTE_LOCK, LocalLLM

    a, b = LocalLLM(spec="local:a"), LocalLLM(spec="local:b")
    assert a._lock is b._lock is COMPUTE_LOCK
