"""The whole improve flow on the real SmolLM2, the real tools and the default corpus (small task)."""

from __future__ import annotations

import json

import pytest

from graph.context import Context
from graph.improve.graph import builder

pytestmark = pytest.mark.real

TASK = {
    "task": "jupiter",
    "observed": ["How big is the planet Jupiter compared to Earth?"],
    "held_out": [{"instruction": "What type of planet is Jupiter?", "answers": ["gas giant"]},
                 {"instruction": "How many years does Jupiter take to orbit the Sun?", "answers": ["11.86", "nearly 12"]},
                 {"instruction": "Jupiter's name comes from the chief god of which ancient religion?", "answers": ["Roman"]}],
}


def test_smollm2_runs_the_whole_flow(tmp_path, smollm, corpus):
    # 1 observed + 1 anticipated question leave the reply room for one call of its own
    ctx = Context(max_calls=3, anticipate=1, max_new_tokens=160, eval_max_new_tokens=48, run_dir=str(tmp_path / "run"),
                  cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"))
    report = builder.compile().invoke(TASK, context=ctx)["report"]
    run = tmp_path / "run"
    trajectory = json.loads((run / "trajectory.json").read_text())

    assert report["reply_not_asked"] is None and trajectory["optimizer_replies"][0]["text"].strip()  # the real optimizer wrote
    assert trajectory["optimizer_replies"][0]["completion_tokens"] > 0
    assert 1 <= report["optimizer_attempts"] <= 1 + ctx.parse_retries
    assert len(report["api_calls"]) <= 3  # the budget holds whatever the model asked for
    assert report["cost_total"] == sum(c["cost"] for c in report["api_calls"])
    for call, result in zip(report["api_calls"], trajectory["results"]):
        assert call["status"] in ("ok", "error") and (call["status"] == "error") == bool(result.get("error"))
        for row in result["rows"]:
            assert row["source"] == call["name"] and row["provenance"]
            if row["type"] == "document":
                assert row["text"] in corpus_texts(corpus)  # a real passage of the default corpus

    rows = [json.loads(line) for line in (run / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == report["dataset_size"] <= report["rows_gathered"]
    h = report["held_out"]
    assert h["n"] == 3 and h["win"] + h["tie"] + h["lose"] + h["no_verdict"] == 3
    assert report["judge"] == "verifier" and report["accuracy"]["n"] == 3
    records = trajectory["evaluation"]["records"]
    assert all(r["original"].strip() and r["updated"].strip() for r in records)
    assert "## API calls" in (run / "report.md").read_text()


def corpus_texts(corpus) -> str:
    from tools.corpus import passage_text

    passages = getattr(corpus, "passages", None) or []
    return "\n".join(p.get("text", "") + "\n" + passage_text(p) for p in passages)


def test_every_curation_step_on_rows_the_real_tools_bought(tmp_path, smollm, corpus):
    """A fixed plan (a relevant passage, an off-topic one, demonstrations and a QA pair from SmolLM2)
    through every step but star, on the real model and embedder; each step's log adds up."""
    plan = [{"name": "information_retrieval", "arg": "Jupiter planet"}, {"name": "information_retrieval", "arg": "Violin"},
            {"name": "demonstration_generation", "arg": "questions about planets"},
            {"name": "question_answering", "arg": "How big is Jupiter?"}]
    ctx = Context.build(max_calls=4, retrieval_k=10, max_new_tokens=96, eval_max_new_tokens=24, demonstrations_per_call=2,
                        curation="dedupe,format,relevance,judge,isheep,perplexity,ifd", run_dir=str(tmp_path / "run"),
                        cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"))
    report = builder.compile().invoke({**TASK, "plan": plan}, context=ctx)["report"]
    log = report["curation"]
    assert [s["step"] for s in log] == ["empty", "dedupe", "format", "relevance", "judge", "isheep", "perplexity", "ifd"]
    for before, after in zip(log, log[1:]):
        assert after["in"] == before["kept"] and after["kept"] + after["dropped"] == after["in"]
    assert log[0]["in"] == report["rows_gathered"] and log[-1]["kept"] == report["dataset_size"]
    relevance = next(s for s in log if s["step"] == "relevance")
    assert any("violin" in e["text"].lower() for e in relevance["examples"])  # the off-topic passage is dropped
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert all(r["judge"]["reading"] == "logprobs" for r in rows)  # the real judge's ratings never fail to parse
