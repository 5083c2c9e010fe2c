"""improve --rounds N (graph/improve.py, graph/gather.py) with scripted models and fake tools."""

from __future__ import annotations

import json

import pytest

import tools
from graph.context import Context
from graph.improve.graph import builder, split_held_out
from graph.options import ConfigError
from tests.fakes import SCRIPTED_PLAN, SCRIPTED_PLAN_ARGS, FakeTools

CAPITALS = {"Zorbia": "Quxton", "Quxland": "Velmar", "Mordia": "Sarn"}
FACTS = {k: f"{k} is a country whose capital is {v}." for k, v in CAPITALS.items()}
TASK = {"task": "capitals", "description": "Capitals of made-up countries.",
        "observed": ["What is the capital of Zorbia?", "Name the capital of Quxland."],
        "held_out": [{"instruction": f"{q} {k}?", "answers": [v]} for k, v in CAPITALS.items()
                     for q in ("Which city is the capital of", "What city is the seat of government of")]}


def answer(messages):
    """The policy names a capital only when a passage in its prompt states it."""
    text = "\n".join(m["content"] for m in messages)
    question = messages[-1]["content"].splitlines()[-1]
    for place, capital in CAPITALS.items():
        if place in question and FACTS[place] in text:
            return f"The capital of {place} is {capital}."
    return "I am not sure."


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    # seed 0 puts held-out items 2 and 4 (Quxland, Mordia) in the validation third
    plans = iter(['<api_calls><api>information_retrieval("Quxland")</api></api_calls>',
                  '<api_calls><api>information_retrieval("Quxland")</api><api>information_retrieval("Zorbia")</api>'
                  '<api>information_retrieval("Mordia")</api></api_calls>',
                  '<api_calls><api>information_retrieval("Nowhere")</api></api_calls>'])
    optimizer = fake_llm("optimizer")
    optimizer.respond = lambda m: next(plans)
    fake_llm("policy").respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr("tests.fakes.FACTS", FACTS)
    monkeypatch.setattr(tools, "call_tool", fake)
    return optimizer, fake


def ctx(tmp_path, **kw) -> Context:
    return Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                         cache_path=str(tmp_path / "c.sqlite"), generation_cache=False, **{**SCRIPTED_PLAN, **kw})


def test_each_round_sees_the_policys_answers_and_the_rounds_before_never_a_held_out_item(tmp_path, setup):
    optimizer, fake = setup
    report = builder.compile().invoke(TASK, context=ctx(tmp_path, rounds=3))["report"]
    prompts = ["\n".join(m["content"] for m in h) for h in optimizer.history]
    assert len(prompts) == 3
    # round 2's optimizer sees what the policy answers after round 1 (Quxland's passage is in its context)
    assert "The capital of Quxland is Velmar." in prompts[1] and "The capital of Quxland is Velmar." not in prompts[0]
    assert "2. I am not sure." in prompts[0] and "round 1: information_retrieval('Quxland')" in prompts[1]
    assert not any(h["instruction"] in p for p in prompts for h in TASK["held_out"])
    # Quxland was bought once: round 2's repeat is dropped, not paid again
    assert fake.calls == [("information_retrieval", "Quxland"), ("information_retrieval", "Zorbia"),
                          ("information_retrieval", "Mordia"), ("information_retrieval", "Nowhere")]
    assert any(d["reason"] == "bought in an earlier round" for d in report["dropped_calls"])
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2] and [r["stop"] for r in rounds][-1] == "last round"
    assert rounds[1]["gain"] > 0 and rounds[1]["cost"] == 2.0 and rounds[2]["gain"] == 0
    val, test = split_held_out(6, ctx(tmp_path, rounds=3))
    assert len(val) == 2 and len(test) == 4 and not set(val) & set(test)
    assert report["held_out"]["n"] == 4 and len(report["validation_items"]) == 2  # final figures: the rest only
    assert (tmp_path / "run" / "rounds.png").exists() and "## Rounds" in (tmp_path / "run" / "report.md").read_text()


def test_a_round_without_gain_ends_the_run_and_keeps_the_update_before_it(tmp_path, setup, fake_llm):
    optimizer, fake = setup
    plans = iter(['<api_calls><api>information_retrieval("Zorbia")</api><api>information_retrieval("Quxland")</api>'
                  '<api>information_retrieval("Mordia")</api></api_calls>',
                  '<api_calls><api>information_retrieval("Nowhere")</api></api_calls>',
                  '<api_calls><api>information_retrieval("Elsewhere")</api></api_calls>'])  # never asked
    optimizer.respond = lambda m: next(plans)
    report = builder.compile().invoke(TASK, context=ctx(tmp_path, rounds=3))["report"]
    assert [r["stop"] for r in report["rounds"]] == [None, "no gain on the validation items"]
    assert report["rounds"][-1]["kept_round"] == 0 and len(fake.calls) == 4  # a third round never ran


def test_total_budget_and_settings_that_need_rounds(tmp_path, setup):
    optimizer, fake = setup
    report = builder.compile().invoke(TASK, context=ctx(tmp_path, rounds=3, max_total_cost=2))["report"]
    assert report["cost_total"] <= 2 and report["rounds"][-1]["stop"] in ("total budget spent", "last round",
                                                                          "no gain on the validation items")
    with pytest.raises(ConfigError, match="settings of runs with rounds > 1"):
        Context.build(max_total_cost=3)


def test_sft_rounds_continue_the_adapter_on_new_rows_or_retrain_on_all(tmp_path, setup, monkeypatch):
    import llms
    import trainers.sft
    from llms import factory
    from tests.fakes import ScriptedLLM

    trained, learned = [], {}

    def fake_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        rows = list(rows)
        trained.append((base, len(rows)))
        learned[str(out_dir / "adapter")] = " ".join(r.get("text", "") for r in rows) + learned.get(base.partition("+")[2], "")
        return out_dir / "adapter"

    def load(ms, **opts):  # base + adapter: a policy that knows what its adapter was trained on
        if not ms.adapter:
            return real(ms, **opts)
        return ScriptedLLM(spec=str(ms), respond=lambda m: answer(m + [{"role": "system", "content": learned[ms.adapter]}]))

    real = factory._BACKENDS["fake"]
    monkeypatch.setitem(factory._BACKENDS, "fake", load)
    monkeypatch.setattr(trainers.sft, "run_sft", fake_sft)
    builder.compile().invoke(TASK, context=ctx(tmp_path / "c", rounds=2, update="sft", sft_min_rows=0))
    assert trained[0] == ("fake:policy", 1) and trained[1][0].startswith("fake:policy+") and trained[1][1] == 2
    trained.clear()
    llms.unload(backend="fake")
    plans = iter(['<api_calls><api>information_retrieval("Quxland")</api></api_calls>',
                  '<api_calls><api>information_retrieval("Mordia")</api></api_calls>'])
    setup[0].respond = lambda m: next(plans)
    builder.compile().invoke(TASK, context=ctx(tmp_path / "r", rounds=2, update="sft", round_sft="retrain", sft_min_rows=0))
    assert trained == [("fake:policy", 1), ("fake:policy", 2)]


def test_the_cli_takes_rounds(tmp_path, setup, monkeypatch):
    from click.testing import CliRunner

    from cli import improve

    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "runs.sqlite"))
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"name": "capitals", **{k: TASK[k] for k in ("description", "observed", "held_out")}}))
    result = CliRunner().invoke(improve, ["--task", str(path), "--rounds", "2", "--out", str(tmp_path / "run"),
                                          "--policy", "fake:policy", "--optimizer", "fake:optimizer", "--judge", "fake:judge",
                                          *SCRIPTED_PLAN_ARGS,
                                          "--set", f"cache_path={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    assert "round    " in result.stderr and json.loads(result.stdout)["held_out"]["n"] == 4
