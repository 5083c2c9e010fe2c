"""Torch threads of the local backend (llms/factory.py): explicit, $ADS_THREADS, or what the load
average leaves free; and one compute lock shared by every local model of a process."""

from __future__ import annotations

import os

import pytest
import torch

from llms import ModelError, factory


@pytest.fixture(autouse=True)
def keep_threads():
    before, chosen = torch.get_num_threads(), list(factory._THREADS)
    yield
    torch.set_num_threads(before)
    factory._THREADS[:] = chosen


def test_auto_threads_leave_the_busy_cores_to_other_jobs(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for load, threads in ((0.0, 4), (1.2, 3), (2.6, 1), (3.6, 1), (9.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert factory.auto_threads() == threads


def test_explicit_then_env_then_automatic_once(monkeypatch):
    monkeypatch.setattr(factory, "auto_threads", lambda: 1)
    monkeypatch.setenv("ADS_THREADS", "2")
    assert factory.set_threads(3) == 3 == torch.get_num_threads()
    assert factory.set_threads() == 2
    monkeypatch.delenv("ADS_THREADS")
    factory._THREADS.clear()
    assert factory.set_threads() == 1  # chosen once per process ...
    torch.set_num_threads(2)
    assert factory.set_threads() == 2  # ... and not chosen again over a count set since


def test_a_bad_ads_threads_says_what_to_write(monkeypatch):
    monkeypatch.setenv("ADS_THREADS", "two")
    with pytest.raises(ModelError, match="whole number"):
        factory.set_threads()


def test_local_models_share_one_compute_lock():
    from llms.local import COMPUTE_LOCK, LocalLLM

    a, b = LocalLLM(spec="local:a"), LocalLLM(spec="local:b")
    assert a._lock is b._lock is COMPUTE_LOCK
