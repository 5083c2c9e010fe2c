"""The refine graph (Algorithm 1) with scripted models, fake tools and recorded training calls."""

from __future__ import annotations

import itertools
import json

import pytest

import tools
from graph.context import Context
from graph.runs import RunStore
from tests.fakes import PLAN, SCRIPTED_PLAN, SCRIPTED_PLAN_ARGS, FakeTools, answer, refine_killed_at

TRAIN = [
    {"task": "zorbia", "observed": ["What is the capital of Zorbia?"], "description": "Capitals of made-up countries.",
     "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]}]},
    {"task": "quxland", "observed": ["Name the capital of Quxland."],
     "held_out": [{"instruction": "Quxland's capital city is called what?", "answers": ["Velmar"]}]},
]
VALIDATION = [{"task": "both", "observed": ["What is the capital of Zorbia?"],
               "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
                            {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}]}]


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    # the optimizer's samples alternate: the useful plan, then no calls at all
    replies = itertools.cycle([PLAN, "Nothing is needed.\n<api_calls>none</api_calls>"])
    fake_llm("optimizer").respond = lambda m: next(replies)
    fake_llm("policy").respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    trained = []

    def fake_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.append(("sft", base, rows, cfg))
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return out_dir / "adapter"

    def fake_dpo(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.append(("dpo", base, rows, cfg))
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return out_dir / "adapter"

    import trainers.dpo
    import trainers.sft

    monkeypatch.setattr(trainers.sft, "run_sft", fake_sft)
    monkeypatch.setattr(trainers.dpo, "run_dpo", fake_dpo)
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "refine"),
                        cache_path=str(tmp_path / "c.sqlite"), refine_samples=2, refine_iterations=1, refine_steps=3,
                        tool_cache=False, generation_cache=False, **SCRIPTED_PLAN)
    return ctx, fake, trained


def test_rejection_sampling_then_dpo_from_rewards_and_costs(setup, tmp_path):
    ctx, fake, trained = setup
    _, values = RunStore(tmp_path / "runs.sqlite").start("refine", {"train": TRAIN, "validation": VALIDATION}, ctx)
    rep = values["refine_report"]
    assert [r["method"] for r in rep["iterations"]] == ["rejection sampling", "dpo"]
    assert [r["trajectories"] for r in rep["iterations"]] == [10, 10]  # 2 tasks x (2 sampled + 3 default)
    # iteration 0: the plan that bought both facts wins each task; it is the chosen trajectory trained on
    kind, base, rows, cfg = trained[0]
    assert kind == "sft" and base == "fake:optimizer" and len(rows) == 2 and cfg == {"max_length": 2048, "max_steps": 3}
    assert all("information_retrieval(\"Zorbia\")" in r["completion"][0]["content"] for r in rows)
    assert rows[0]["prompt"][0]["role"] == "system" and "Capitals of made-up countries." in rows[0]["prompt"][-1]["content"]
    # iteration 1: DPO from the first adapter, chosen = the plan, rejected = the costliest of the worst (3 QA calls, cost 3)
    kind, base, rows, _ = trained[1]
    assert kind == "dpo" and base == f"fake:optimizer+{tmp_path / 'refine' / 'iter0' / 'optimizer' / 'adapter'}"
    assert all("question_answering" in r["rejected"] and "Zorbia" in r["chosen"] for r in rows)
    assert rep["optimizers"][-1].endswith("iter1/optimizer/adapter") and len(rep["optimizers"]) == 3
    # the same data is rewarded once: iteration 1's trajectories bought what iteration 0's did
    assert rep["iterations"][0]["rewards_measured"] == 10 - rep["iterations"][0]["reward_cache_hits"]
    assert rep["iterations"][1]["rewards_measured"] == 0 and rep["iterations"][1]["reward_cache_hits"] == 10
    val = rep["iterations"][0]["validation_refined"]
    assert val["gained"] is not None and "accuracy_gain" in val
    assert (tmp_path / "refine" / "refine_report.md").exists() and (tmp_path / "refine" / "refine.png").exists()


def test_a_killed_refine_resumes_without_rerunning_finished_trajectories(setup, tmp_path, monkeypatch):
    ctx, fake, _ = setup
    ran, values = refine_killed_at(monkeypatch, 4, RunStore(tmp_path / "runs.sqlite"), ctx.replace(refine_iterations=0),
                                   {"train": TRAIN, "validation": []})
    first_three, fourth = ran[:3], ran[3]
    assert ran.count(fourth) == 2 and all(ran.count(r) == 1 for r in first_three)  # only the killed one re-ran
    assert len(ran) == 11 and values["refine_report"]["iterations"][0]["trajectories"] == 10


def test_the_refine_command_reads_train_and_validation_splits(setup, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from cli import refine

    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "runs.sqlite"))
    for split, tasks in (("train", TRAIN), ("validation", VALIDATION)):
        (tmp_path / "tasks" / split).mkdir(parents=True)
        for t in tasks:
            (tmp_path / "tasks" / split / f"{t['task']}.yaml").write_text(
                yaml.safe_dump({"name": t["task"], **{k: t[k] for k in ("observed", "held_out")}}))
    result = CliRunner().invoke(refine, ["--tasks", str(tmp_path / "tasks"), "--samples", "1", "--dpo-iterations", "0",
                                         "--out", str(tmp_path / "r"), "--policy", "fake:policy", "--optimizer",
                                         "fake:optimizer", "--judge", "fake:judge", "--no-cache", *SCRIPTED_PLAN_ARGS,
                                         "--set", f"cache_path={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    optimizers = json.loads(result.stdout[result.stdout.index("{"):])["optimizers"]
    assert len(optimizers) == 2 and optimizers[1].endswith("iter0/optimizer/adapter")
    assert "2 training, 1 validation task(s)" in result.stderr
