"""improve's curate node grows the memory bank with its curated high scorers (Context.memory_min_score),
and a later run's memory_search returns them."""

from __future__ import annotations

import json

import tools
from graph.context import Context
from graph.improve.graph import builder
from memory import MemoryBank
from tests.fakes import PLAN, SCRIPTED_PLAN, TASK, FakeTools, answer


def test_curated_high_scorers_go_into_the_bank_only_when_asked(tmp_path, fake_llm, monkeypatch):
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")
    policy.respond = answer
    # the judge rates the demonstration 9/9 (score 1.0) and nothing else is a pair
    judge.respond = lambda messages: "Quality: 10\nFollowing: 10"
    monkeypatch.setattr(tools, "call_tool", FakeTools())

    def run(name, **kw):
        optimizer.script(PLAN)
        ctx = Context(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", judge_reading="text",
                      run_dir=str(tmp_path / name), cache_path=str(tmp_path / "cache.sqlite"),
                      memory_path=str(tmp_path / "bank"), **SCRIPTED_PLAN, **kw)
        builder.compile().invoke(TASK, context=ctx)
        return [json.loads(line) for line in (tmp_path / name / "dataset.jsonl").read_text().splitlines()], ctx

    rows, _ = run("off")
    assert MemoryBank(tmp_path / "bank").count() == 0 and not any(r.get("memory_bank") for r in rows)
    rows, ctx = run("on", memory_min_score=0.9)
    pairs = [r for r in rows if r.get("type") == "demonstration"]
    assert pairs and all(r["memory_bank"] for r in pairs) and not any(r.get("memory_bank") for r in rows if r["type"] == "document")
    from tools import memory_search

    hit = memory_search.run(pairs[0]["instruction"], ctx).rows[0]  # the real tool, as a later run calls it
    assert hit["instruction"] == pairs[0]["instruction"] and hit["data_score"] == 1.0
    assert hit["tags"] == ["improve", "demonstration"] and hit["provenance"]["origin"] == f"improve:{TASK['task']}"
