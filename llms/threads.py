"""Torch threads that follow the machine: how many of this process's cores other processes are
computing on *now*, and the thread count that leaves them free.

A daemon thread reads ``/proc/stat`` (the busy time of each core this process may run on) and
this process's own CPU time every ``INTERVAL`` seconds; the busy cores of the last window, less
this process's own share, are what other processes use. Unlike the 1-minute load average, which
still counts a process that ended a minute ago, this follows the machine within about a second:
a command run right after another gets every idle core, and two model processes at once each
see the other and step down (``auto_threads``).

Where ``/proc/stat`` cannot be read (not Linux), nothing is known to be busy.
"""

from __future__ import annotations

import os
import threading
import time

from .base import ModelError

INTERVAL = 0.25  # seconds between samples
WINDOW = 1.0  # seconds of history a reading covers (at least one interval)


def allowed_cores() -> list[int]:
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _read(cores: list[int]) -> tuple[float, float, float] | None:
    """(wall seconds, busy core-seconds of ``cores``, this process's CPU seconds) now, or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cores}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if name in wanted:
            v = [int(x) for x in rest.split()]
            idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
            busy += sum(v[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is in user)
    own = os.times()
    return time.monotonic(), busy / tick, own.user + own.system


class CpuWatch:
    """Samples in the background once started; ``others_busy()`` is a cheap read."""

    def __init__(self, interval: float = INTERVAL, window: float = WINDOW):
        self.interval, self.window = interval, max(window, interval)
        self.cores = allowed_cores()
        self._samples: list[tuple[float, float, float]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        s = _read(self.cores)
        if s is None:
            return
        with self._lock:
            self._samples.append(s)
            while len(self._samples) > 2 and s[0] - self._samples[1][0] >= self.window:
                self._samples.pop(0)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            self._sample()

    def start(self) -> None:
        """Take a first reading over one interval (blocking, once), then sample in the background."""
        if self._thread is not None:
            return
        self._sample()
        time.sleep(self.interval)
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="ads-cpu-watch", daemon=True)
        self._thread.start()

    def others_busy(self) -> float:
        """Cores busy with other processes over the last window (0 when unknown)."""
        self.start()
        with self._lock:
            if len(self._samples) < 2:
                return 0.0
            (t0, b0, o0), (t1, b1, o1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return 0.0
        others = ((b1 - b0) - (o1 - o0)) / (t1 - t0)
        return min(float(len(self.cores)), max(0.0, others))


_WATCH: CpuWatch | None = None
_WATCH_LOCK = threading.Lock()


def watch() -> CpuWatch:
    """This process's one watcher (started on first use)."""
    global _WATCH
    with _WATCH_LOCK:
        if _WATCH is None:
            _WATCH = CpuWatch()
    return _WATCH


def auto_threads() -> int:
    """Torch threads for this process: the cores it may run on that other processes leave free
    now (``CpuWatch``: busy time over the last second, not the lagging load average), at
    least 1. Two torch threads on a core another job holds wait for each other at every op, so
    on a busy machine fewer threads finish sooner (bench/threads.py)."""
    w = watch()
    return max(1, min(len(w.cores), int(len(w.cores) - w.others_busy() + 0.5)))


_PINNED: list[int] = []  # a count the caller or $ADS_THREADS fixed; empty: follow the machine


def _env_threads() -> int | None:
    if not os.environ.get("ADS_THREADS"):
        return None
    try:
        return int(os.environ["ADS_THREADS"])
    except ValueError:
        raise ModelError(f"ADS_THREADS={os.environ['ADS_THREADS']!r}: give a whole number of threads, e.g. 1") from None


def set_threads(threads: int | None = None) -> int:
    """Set torch's thread count: ``threads``, else ``$ADS_THREADS`` (either pins it for the
    process), else ``auto_threads()``, which ``follow_threads`` re-reads while models compute.
    Returns the count in use."""
    import torch

    threads = threads or _env_threads()
    if threads:
        _PINNED[:] = [int(threads)]
        torch.set_num_threads(int(threads))
    elif _PINNED:
        torch.set_num_threads(_PINNED[0])
    else:
        follow_threads()
    return torch.get_num_threads()


def follow_threads() -> int:
    """Unless the count is pinned, set torch's threads to what the machine leaves free now; the
    local backend calls this before each batch and each decoding step (a cheap read, a change
    only when the machine changed)."""
    import torch

    if not _PINNED:
        want = auto_threads()
        if want != torch.get_num_threads():
            torch.set_num_threads(want)
    return torch.get_num_threads()
