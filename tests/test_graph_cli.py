"""`improve` and `inspect` through click, with scripted models (the fake: backend) and fake tools."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import tools
from cli import improve, inspect_run, runs, settings
from tests.fakes import PLAN, SCRIPTED_PLAN_ARGS, TASK, FakeTools, answer

FAKES = ["--policy", "fake:policy", "--optimizer", "fake:optimizer", "--judge", "fake:judge", *SCRIPTED_PLAN_ARGS]


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    fake_llm("optimizer").respond = lambda m: PLAN
    fake_llm("policy").respond = answer
    fake_llm("policy").logprob_fn = lambda c, r: [-1.0] * max(1, len(r) // 4)
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    monkeypatch.setenv("ADS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "home" / "checkpoints.sqlite"))
    task = tmp_path / "capitals.json"
    task.write_text(json.dumps({k: TASK[k] for k in ("observed", "held_out")} | {"name": "capitals"}))
    return tmp_path, task, fake


def test_improve_writes_the_run_and_inspect_shows_it(setup):
    tmp, task, fake = setup
    out = tmp / "run"
    result = CliRunner().invoke(improve, ["--task", str(task), "--out", str(out), "--thread", "t1", *FAKES])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["held_out"]["win"] == 2 and printed["cost_total"] == 4.0
    assert "tools    calls 1/3 cost 1" in result.stderr and "evaluate" in result.stderr  # live progress
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "trajectory.json", "dataset.jsonl"}

    shown = CliRunner().invoke(inspect_run, ["t1"])
    assert shown.exit_code == 0, shown.output
    assert "status: finished" in shown.output
    assert "information_retrieval('Zorbia') cost 1 ok" in shown.output
    assert "API calls (3 of 3 planned, cost 4)" in shown.output

    again = CliRunner().invoke(improve, ["--task", str(task), "--out", str(out), "--thread", "t1", *FAKES])
    assert again.exit_code != 0 and "--resume t1" in again.output


def test_runs_in_different_folders_with_the_same_name_never_collide(setup):
    tmp, task, fake = setup
    threads = []
    for folder in ("a", "b"):
        result = CliRunner().invoke(improve, ["--task", str(task), "--out", str(tmp / folder / "run"), *FAKES])
        assert result.exit_code == 0, result.output
        threads.append(json.loads(result.stdout)["thread"])
        assert (tmp / folder / "run" / "report.json").exists()
    assert threads[0] != threads[1] and all(t.startswith("run-") for t in threads)
    listed = CliRunner().invoke(runs, ["list"])
    assert all(t in listed.output for t in threads) and listed.output.count("finished") == 2


def test_every_setting_is_reachable_and_checked(setup, monkeypatch):
    tmp, task, fake = setup
    seen = {}
    import graph.heldout

    real_measure = graph.heldout.measure

    def spy(ctx, held_out, updated, **kw):
        seen["ctx"] = ctx
        return real_measure(ctx, held_out, updated, **kw)

    monkeypatch.setattr(graph.heldout, "measure", spy)
    config = tmp / "run.yaml"
    config.write_text("eval_max_new_tokens: 33\nicl_token_budget: 200\nmax_calls: 2\n")
    args = ["--task", str(task), "--out", str(tmp / "r"), "--config", str(config), "--set", "icl_token_budget=300",
            "--set", "judge_mode=verify", "--set", "dtype=bfloat16", "--no-cache", "--max-calls", "3", *FAKES]
    result = CliRunner().invoke(improve, args)
    assert result.exit_code == 0, result.output
    ctx = seen["ctx"]
    # --set beats named options, which beat --config, which beats the defaults
    assert (ctx.eval_max_new_tokens, ctx.icl_token_budget, ctx.max_calls) == (33, 300, 3)
    assert ctx.judge_mode == "verify" and ctx.dtype == "bfloat16" and ctx.tool_cache is False

    for bad, message in ((["--set", "icl_budget=3"], "unknown setting(s): icl_budget"),
                         (["--set", "max_calls=many"], "max_calls='many': expected int"),
                         (["--set", "judge_mode=vibes"], "judge_mode='vibes': choose one of auto, pairwise, reward, verify"),
                         (["--set", "prompts={ICL_PROMPT: '{nope}'}"], "prompts.ICL_PROMPT uses {nope}"),
                         (["--set", "novalue"], "write --set FIELD=VALUE")):
        result = CliRunner().invoke(improve, ["--task", str(task), "--out", str(tmp / "x"), *bad, *FAKES])
        assert result.exit_code == 1 and message in result.output, result.output


def test_settings_lists_every_field():
    result = CliRunner().invoke(settings, [])
    assert result.exit_code == 0
    from graph.context import Context

    assert all(f"{name} = " in result.output for name in Context.describe())


def test_step_mode_quit_then_resume_pays_each_call_once(setup):
    tmp, task, fake = setup
    args = ["--task", str(task), "--out", str(tmp / "run"), "--thread", "s1", "--step", *FAKES]
    first = CliRunner().invoke(improve, args, input="a\ne\nQuxland capital\nq\n")
    assert first.exit_code == 0, first.output
    assert "paused. Continue with: python cli.py improve --resume s1" in first.stderr
    assert fake.calls == [("information_retrieval", "Zorbia"), ("information_retrieval", "Quxland capital")]

    shown = CliRunner().invoke(inspect_run, ["s1"])
    assert "paused at an interrupt before tools" in shown.output and "API calls (2 of 3 planned" in shown.output

    resumed = CliRunner().invoke(improve, ["--resume", "s1"], input="s\n")
    assert resumed.exit_code == 0, resumed.output
    assert len(fake.calls) == 2  # nothing paid twice, the last call skipped
    report = json.loads((tmp / "run" / "report.json").read_text())
    assert [(c["argument"], c["status"]) for c in report["api_calls"]] == [
        ("Zorbia", "ok"), ("Quxland capital", "ok"), ("capital questions", "skipped")]


def test_user_errors_are_click_errors(setup):
    tmp, task, _ = setup
    bad = tmp / "bad.yaml"
    bad.write_text("observed: [a]\nheld_out:\n  - {answers: [x]}\n")
    result = CliRunner().invoke(improve, ["--task", str(bad), *FAKES])
    assert result.exit_code == 1 and "line 3: held_out[0]: field 'instruction' is missing" in result.output
    result = CliRunner().invoke(inspect_run, ["nope"])
    assert result.exit_code == 1 and "no run with thread 'nope'" in result.output
