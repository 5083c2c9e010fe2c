"""Refine's trajectories and rewards as Ray tasks (executor=ray, a real local cluster) give the
report the local executor gives; training stays in the driver (recorded fakes, tests/test_graph_refine.py)."""

from __future__ import annotations

from graph.harness import comparable
from graph.runs import RunStore
from tests.fakes import PLAN
from tests.test_graph_executor import RAY, logged_calls
from tests.test_graph_refine import TRAIN, VALIDATION, setup  # noqa: F401


def test_refine_trajectories_and_rewards_on_ray_give_the_local_report(setup, tmp_path, fake_llm, ray_cluster, monkeypatch):  # noqa: F811
    ctx, _, trained = setup
    fake_llm("optimizer").respond = lambda m: PLAN  # as the workers' optimizer answers (tests/ray_units.py)
    monkeypatch.setenv("ADS_TEST_CALLS", str(tmp_path / "calls.log"))
    inputs = {"train": TRAIN, "validation": VALIDATION}
    _, local = RunStore(tmp_path / "local.sqlite").start("refine", inputs, ctx)
    rctx = ctx.replace(run_dir=str(tmp_path / "ray"), **RAY)
    _, remote = RunStore(tmp_path / "ray.sqlite").start("refine", inputs, rctx)
    assert comparable(remote["refine_report"], rctx.run_dir) == comparable(local["refine_report"], ctx.run_dir)
    assert [r["method"] for r in remote["refine_report"]["iterations"]] == ["rejection sampling", "dpo"]
    # 2 iterations x 2 tasks x (2 sampled + 3 default trajectories) ran in workers, and the validation's cells
    runs = {run_dir for run_dir, *_ in logged_calls(tmp_path / "calls.log")}
    assert len([r for r in runs if "/validation/" not in r]) == 20 and any("/validation/" in r for r in runs)
    assert [t[0] for t in trained] == ["sft", "dpo", "sft", "dpo"]  # local, then Ray: trained in the driver
