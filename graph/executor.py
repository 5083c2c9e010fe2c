"""Unit-shaped work, here one after another or as Ray tasks (``Context.executor``).

``run_units(ctx, fn, calls)`` returns ``[fn(*args) for args in calls]``, in that order, whichever
executor runs them, so the same seeds give the same report:

* ``local``: here, one after another (graphs hand it one unit per step);
* ``ray``: every call a Ray task holding ``unit_cpus`` CPUs and ``unit_gpus`` GPUs, all submitted
  at once, on the cluster at ``ray_address`` or on a local one of ``ray_workers`` units. A model is
  loaded once per worker process and kept for the worker's next units; a spec of an endpoint
  (``openai:NAME@http://HOST:8000/v1`` at ``vllm serve``) loads nothing.

The units are evaluate's cells and refine's trajectories and rewards, each its own checkpointed
thread (``graph.runs.UnitRuns``). A worker that dies (killed, out of memory, its node lost) is
retried by Ray up to ``unit_retries`` times, and the retry resumes the unit from its checkpoint;
a driver that dies is resumed like any run (``runs resume THREAD``): it submits the unfinished
units again, and the finished ones return from their checkpoints without running again.

Every worker gets the driver's ``ADS_*``, ``HF_*`` and ``TRANSFORMERS_*`` environment (its
``$ADS_HOME``, offline flags), torch threads pinned to ``unit_cpus``, and calls ``ray_setup``
(``MODULE:FUNCTION``) once before its first unit. Across machines every node needs the project
installed (``pip install -e '.[distributed]'``, the same lock), the models prepared, ``run_dir``
on a file system all of them mount, and ``checkpoint_uri`` in Postgres (docs/scale.md).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable, Sequence

from graph.context import Context
from records.errors import AdsError

INSTALL = "pip install -e '.[distributed]' (ray, langgraph-checkpoint-postgres, psycopg)"
FORWARDED = ("ADS_", "HF_", "TRANSFORMERS_")
ROOT = Path(__file__).resolve().parents[1]

_started: dict = {}  # the cluster this process joined: {"key": (address, workers, cpus, gpus)}
_setup_done: set[str] = set()  # ray_setup functions this worker process has called


class ExecutorError(AdsError, RuntimeError):
    """The executor cannot run: Ray missing or unreachable; the message says what to do."""


def batch(ctx: Context, pending: Sequence) -> list:
    """What a graph hands the executor in one step: the next unit here, every pending one on Ray."""
    return list(pending) if ctx.executor == "ray" else list(pending[:1])


def run_units(ctx: Context, fn: Callable, calls: Sequence[tuple]) -> list:
    """``[fn(*args) for args in calls]``, run by ``ctx.executor``; results in the order of ``calls``."""
    if ctx.executor == "local" or not calls:
        return [fn(*args) for args in calls]
    ray = connect(ctx)
    task = ray.remote(_unit).options(num_cpus=ctx.unit_cpus, num_gpus=ctx.unit_gpus, max_retries=ctx.unit_retries,
                                     retry_exceptions=False)
    env = worker_env(ctx)
    refs = [task.remote(env, ctx.ray_setup, fn, tuple(args)) for args in calls]
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:  # the unit's own error, as local would have raised it
        cause = getattr(e, "cause", None)
        if isinstance(cause, BaseException):
            cause.add_note(f"raised in a Ray worker:\n{e.traceback_str}")
            raise cause from None
        raise


def worker_env(ctx: Context) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED)}
    env.setdefault("ADS_THREADS", str(max(1, int(ctx.unit_cpus))))
    return env


def _unit(env: dict, setup: str | None, fn: Callable, args: tuple):
    """One unit in a Ray worker: the driver's environment, the user's setup once, then ``fn``."""
    os.environ.update(env)
    if setup and setup not in _setup_done:
        module, _, name = setup.partition(":")
        getattr(importlib.import_module(module), name)()
        _setup_done.add(setup)
    return fn(*args)


def connect(ctx: Context):
    """The ``ray`` module, joined to the cluster ``ctx`` names (started here when local)."""
    from llms.base import import_module

    ray = import_module("ray", purpose="executor=ray", install=INSTALL, error=ExecutorError)
    key = (ctx.ray_address, ctx.ray_workers, ctx.unit_cpus, ctx.unit_gpus)
    if ray.is_initialized():
        if not _started or _started.get("key") == key:
            return ray  # joined already, by this run or by the host program
        ray.shutdown()  # a local cluster of another size: start the one asked for
    # the workers import this project and read the driver's files: same code, same paths
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}}
    try:
        if ctx.ray_address:
            reachable(ctx.ray_address)  # ray.init waits minutes on an address where nothing listens
            ray.init(address=ctx.ray_address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, round(ctx.ray_workers * ctx.unit_cpus)), num_gpus=ctx.ray_workers * ctx.unit_gpus,
                     include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {ctx.ray_address}" if ctx.ray_address else "a local Ray cluster"
        raise ExecutorError(f"executor=ray cannot reach {where}: {e}. Start one with `ray start --head` and pass its "
                            "address (ray_address=HOST:6379, or auto on a node that joined it), or leave ray_address "
                            "unset for a local cluster") from None
    _started["key"] = key
    return ray


def reachable(address: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError unless something listens at ``address`` (HOST:PORT, ray://HOST:PORT;
    ``auto`` is left to Ray, which fails at once when this machine joined no cluster)."""
    import socket

    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ray_address={address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {host}:{port} ({e})") from None
