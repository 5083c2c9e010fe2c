"""The evaluation harness (graph/evaluate.py) with scripted models and the counting fake tool layer."""

from __future__ import annotations

import json

import pytest

import tools
from graph.context import Context
from graph.runs import RunStore
from tests.fakes import FACTS, PLAN, SCRIPTED_PLAN, SCRIPTED_PLAN_ARGS, FakeTools, answer

TASKS = [
    {"task": "zorbia", "category": "geography", "observed": ["What is the capital of Zorbia?"],
     "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
                  {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}]},
    {"task": "quxland", "category": "geography", "observed": ["Name the capital of Quxland."],
     "held_out": [{"instruction": "Quxland's capital city is called what?", "answers": ["Velmar"]}]},
]


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    fake_llm("optimizer").respond = lambda m: PLAN
    policy = fake_llm("policy")
    policy.respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge",
                        run_dir=str(tmp_path / "eval"), cache_path=str(tmp_path / "c.sqlite"), **SCRIPTED_PLAN)
    return ctx, fake, policy


def test_methods_on_tasks_with_costs_intervals_and_plots(setup, tmp_path):
    ctx, fake, policy = setup
    store = RunStore(tmp_path / "runs.sqlite")
    methods = ["original", "retrieval", "rule-qa", "ads", "ads-only:demonstration_generation"]
    _, values = store.start("evaluate", {"tasks": TASKS, "methods": methods}, ctx)
    rep = values["eval_report"]
    rows = {r["method"]: r for r in rep["methods"]}
    assert list(rows) == methods and rep["cells"] == 10 and rep["tasks"] == ["quxland", "zorbia"]
    # retrieval of each observed instruction finds no fact (the fake index knows names, not questions)
    assert rows["retrieval"]["calls_by_api"] == {"information_retrieval": 2} and rows["retrieval"]["cost_per_task"] == 1.0
    assert rows["retrieval"]["accuracy_gain"] == 0.0 and rows["rule-qa"]["cost_per_task"] == 3.0
    # the optimizer's plan retrieves Zorbia and Quxland: both answerable items gained, nothing lost
    ads = rows["ads"]
    assert (ads["gained"], ads["lost"], ads["verified"]) == (2, 0, 3) and ads["accuracy_gain"] == pytest.approx(2 / 3)
    # its 2 retrieval calls share the rule's passages (1 observed x k): 0.5 each, per passage
    assert ads["cost_per_task"] == 3.0 and ads["tasks_helped"] == 2 and ads["accuracy_gain_ci"][1] >= 2 / 3
    only = rows["ads-only:demonstration_generation"]  # the optimizer's retrieval calls are not allowed
    assert only["calls_by_api"] == {"demonstration_generation": 2} and only["gained"] == 0
    assert rows["original"]["accuracy_original"] == rows["original"]["accuracy_updated"] == 0.0
    assert rep["by_category"][0]["category"] == "geography"
    out = tmp_path / "eval"
    assert json.loads((out / "eval_report.json").read_text())["cells"] == 10
    assert "| ads | 0.0% -> 66.7% | +66.7 |" in (out / "eval_report.md").read_text()
    assert {p.name for p in out.glob("*.png")} == {"accuracy_by_method.png", "cost_vs_gain.png", "calls_by_api.png"}
    # the original policy answered each task's held-out items once, for every method
    originals = [h for h in policy.history if h[-1]["content"] in
                 [i["instruction"] for t in TASKS for i in t["held_out"]] and len(h) == 1]
    assert len(originals) == 3


def test_an_interrupted_evaluation_resumes_without_rerunning_finished_cells(setup, tmp_path, monkeypatch):
    ctx, fake, _ = setup
    from tests.fakes import evaluate_killed_at

    inputs = {"tasks": TASKS, "methods": ["original", "ads"]}
    ran, values = evaluate_killed_at(monkeypatch, 3, RunStore(tmp_path / "runs.sqlite"), ctx, inputs)
    assert ran == ["zorbia|original|0", "zorbia|ads|0", "quxland|original|0", "quxland|original|0", "quxland|ads|0"]
    assert values["eval_report"]["cells"] == 4 and len(fake.calls) == 6  # each ads cell bought its 3 calls once


def test_evaluate_updates_measures_given_policies(setup, tmp_path):
    ctx, _, _ = setup
    from graph.harness import evaluate_updates

    updates = {"with facts": {"kind": "icl", "policy": "fake:policy", "context": FACTS["Zorbia"], "rows_used": 1},
               "nothing": {"kind": "icl", "policy": "fake:policy", "context": ""}}
    rep = evaluate_updates(ctx, TASKS, updates, tmp_path / "out")
    rows = {r["method"]: r for r in rep["methods"]}
    assert rows["with facts"]["gained"] == 1 and rows["nothing"]["gained"] == 0
    assert (tmp_path / "out" / "eval_report.md").exists()


def test_unknown_methods_are_refused(setup, tmp_path):
    ctx, _, _ = setup
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        RunStore(tmp_path / "r.sqlite").start("evaluate", {"tasks": TASKS, "methods": ["magic"]}, ctx)


def test_the_evaluate_command(setup, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from cli import evaluate

    ctx, fake, _ = setup
    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "runs.sqlite"))
    folder = tmp_path / "tasks" / "test"
    folder.mkdir(parents=True)
    for t in TASKS:
        (folder / f"{t['task']}.yaml").write_text(yaml.safe_dump({"name": t["task"], **{k: t[k] for k in ("observed", "held_out")}}))
    args = ["--tasks", str(tmp_path / "tasks"), "--methods", "original,ads", "--out", str(tmp_path / "e"),
            "--policy", "fake:policy", "--optimizer", "fake:optimizer", "--judge", "fake:judge", *SCRIPTED_PLAN_ARGS,
            "--set", f"cache_path={tmp_path / 'c.sqlite'}"]
    result = CliRunner().invoke(evaluate, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["cells"] == 4 and printed["report"].endswith("eval_report.md")
    assert "ads" in result.stderr and "gain" in result.stderr
    bad = CliRunner().invoke(evaluate, [*args[:2], "--methods", "nonsense", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "unknown method 'nonsense'" in bad.output
    missing = CliRunner().invoke(evaluate, ["--tasks", str(tmp_path / "tasks"), "--split", "train"])
    assert missing.exit_code == 1 and "has no 'train' split" in missing.output
