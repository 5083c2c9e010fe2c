"""executor=ray on a real local Ray cluster (graph/executor.py): evaluate's cells as Ray tasks give
the report the local executor gives (refine: tests/test_graph_refine_ray.py); a worker killed
in a unit's tool call, or the driver killed with units in flight, resumes every unit from its
checkpoint and runs no finished one again. Workers get the scripted models and the logging fake
tools from tests/ray_units.py (ray_setup)."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from graph.context import Context
from graph.executor import ExecutorError, run_units
from graph.harness import comparable
from graph.runs import RunStore
from tests.test_graph_evaluate import TASKS, setup  # noqa: F401  (scripted models and fake tools in the driver)

METHODS = ["original", "retrieval", "ads"]
RAY = {"executor": "ray", "ray_workers": 2, "ray_setup": "tests.ray_units:install"}


def logged_calls(path: Path) -> list[tuple]:
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()] if path.exists() else []


def evaluate_both(ctx, tmp_path, inputs) -> tuple[dict, dict, Context]:
    """The same evaluation with the local executor and on Ray: (local report, Ray report, Ray's Context)."""
    _, local = RunStore(tmp_path / "local.sqlite").start("evaluate", inputs, ctx)
    rctx = ctx.replace(run_dir=str(tmp_path / "ray"), cache_path=str(tmp_path / "ray-cache.sqlite"), **RAY)
    _, remote = RunStore(tmp_path / "ray.sqlite").start("evaluate", inputs, rctx)
    return local["eval_report"], remote["eval_report"], rctx


def test_cells_on_ray_give_the_report_the_local_executor_gives(setup, tmp_path, ray_cluster, monkeypatch):  # noqa: F811
    ctx, fake, _ = setup
    monkeypatch.setenv("ADS_TEST_CALLS", str(tmp_path / "calls.log"))
    local, remote, rctx = evaluate_both(ctx, tmp_path, {"tasks": TASKS, "methods": METHODS})
    assert comparable(remote, rctx.run_dir) == comparable(local, ctx.run_dir)
    assert {r["method"]: r["gained"] for r in remote["methods"]} == {"original": 0, "retrieval": 0, "ads": 2}
    calls = logged_calls(tmp_path / "calls.log")
    # every tool call of the Ray run happened in a worker process, the same calls the local run made
    assert calls and os.getpid() not in {pid for *_, pid in calls}
    assert sorted((name, arg) for _, name, arg, _ in calls) == sorted(fake.calls)
    # each unit checkpointed in its own SQLite file: worker processes never write one file at once
    assert len(list((tmp_path / "ray" / "checkpoints" / "cells").glob("*.sqlite"))) == 4


def test_a_worker_killed_in_a_unit_resumes_it_from_its_checkpoint(setup, tmp_path, ray_cluster, monkeypatch):  # noqa: F811
    ctx, _, _ = setup
    monkeypatch.setenv("ADS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("ADS_TEST_KILL_AT", "Quxland")  # the first worker to buy Quxland dies in the call
    local, remote, rctx = evaluate_both(ctx, tmp_path, {"tasks": TASKS, "methods": ["original", "ads"]})
    assert comparable(remote, rctx.run_dir) == comparable(local, ctx.run_dir)
    by_cell = Counter((run_dir, arg) for run_dir, _, arg, _ in logged_calls(tmp_path / "calls.log"))
    killed = [run_dir for (run_dir, arg), n in by_cell.items() if arg == "Quxland" and n == 2]
    assert len(killed) == 1  # Ray ran that unit again: it resumed inside the cut-off call ...
    assert by_cell[(killed[0], "Zorbia")] == 1  # ... and never bought the call it had finished
    assert sum(by_cell.values()) == 7  # 2 cells x 3 calls, and the one cut off


DRIVER = r'''
import json, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests import ray_units
ray_units.install()  # the driver answers the original policy's questions itself
from graph.context import Context
from graph.runs import RunStore
from tests.fakes import SCRIPTED_PLAN
from tests.test_graph_evaluate import TASKS

tmp = Path(sys.argv[2])
cells = tmp / "sub" / "cells"
if os.environ.get("KILL_AFTER_CELLS"):
    def kill_when_cells_finished():
        while True:
            done = sorted(str(p.parent) for p in cells.glob("*/*/*/report.json"))
            if len(done) >= int(os.environ["KILL_AFTER_CELLS"]):
                (tmp / "finished_before_kill.json").write_text(json.dumps(done))
                os._exit(9)  # the driver dies; its local cluster and the units in flight with it
            time.sleep(0.02)
    threading.Thread(target=kill_when_cells_finished, daemon=True).start()
ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp / "sub"),
                    cache_path=str(tmp / "sub-cache.sqlite"), executor="ray", ray_workers=2,
                    ray_setup="tests.ray_units:install", **SCRIPTED_PLAN)
store = RunStore(tmp / "sub.sqlite")
inputs = {"tasks": TASKS, "methods": ["original", "retrieval", "ads"]}
values = store.resume("eval") if store.has("eval") else store.start("evaluate", inputs, ctx, thread="eval")[1]
print(json.dumps(values["eval_report"]))
'''


def test_a_killed_driver_resumes_without_running_a_finished_unit_again(setup, tmp_path, ray_cluster, spawn, monkeypatch):  # noqa: F811
    from tests.fakes import kill_then_resume

    ctx, _, _ = setup
    monkeypatch.setenv("ADS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("ADS_TEST_TOOL_SECONDS", "0.5")  # units long enough to be in flight at the kill
    resumed = kill_then_resume(DRIVER, tmp_path, {"KILL_AFTER_CELLS": "1"}, spawn.run)
    _, local = RunStore(tmp_path / "local.sqlite").start("evaluate", {"tasks": TASKS, "methods": METHODS}, ctx)
    assert comparable(resumed, tmp_path / "sub") == comparable(local["eval_report"], ctx.run_dir)
    finished = json.loads((tmp_path / "finished_before_kill.json").read_text())
    calls = Counter((run_dir, arg) for run_dir, _, arg, _ in logged_calls(tmp_path / "calls.log"))
    assert finished and all(n == 1 for (run_dir, _), n in calls.items() if run_dir in finished)
    assert max(calls.values()) <= 2  # a call cut off by the kill runs once more; nothing else does
    assert {run_dir for run_dir, _ in calls} == {str(p.parent) for p in (tmp_path / "sub" / "cells").glob("*/*/*/report.json")
                                                 if "original" not in str(p)}


def test_an_unreachable_cluster_or_a_missing_extra_says_what_to_do(monkeypatch):
    ctx = Context.build(executor="ray", ray_address="127.0.0.1:9")
    with pytest.raises(ExecutorError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:9: nothing answers.*ray start --head"):
        run_units(ctx, str, [(1,)])
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExecutorError, match=r"executor=ray needs ray, which is not installed: pip install -e '\.\[distributed\]'"):
        run_units(ctx, str, [(1,)])
    assert run_units(Context.build(), str, [(1,), (2,)]) == ["1", "2"]  # local: nothing of Ray is touched



def test_ray_settings_are_refused_where_they_would_change_nothing():
    from graph.options import ConfigError

    with pytest.raises(ConfigError, match="ray_workers, unit_gpus: setting\\(s\\) of executor=ray, which is off"):
        Context.build(ray_workers=4, unit_gpus=1)
    with pytest.raises(ConfigError, match="ray_workers sizes the local cluster"):
        Context.build(executor="ray", ray_address="auto", ray_workers=4)
    with pytest.raises(ConfigError, match="ray_setup='tests.ray_units': write MODULE:FUNCTION"):
        Context.build(executor="ray", ray_setup="tests.ray_units")
    with pytest.raises(ConfigError, match="checkpoint_uri='runs.sqlite': give a postgresql://"):
        Context.build(checkpoint_uri="runs.sqlite")
    assert Context.build(executor="ray", unit_gpus=0.5, ray_setup="tests.ray_units:install").unit_gpus == 0.5
