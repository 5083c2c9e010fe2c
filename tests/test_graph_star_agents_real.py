"""Star-Agents on 5 real seeds (alpaca-gpt4-demo) with the real SmolLM2 as every agent, target and judge."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.real


def test_five_alpaca_seeds_give_scored_rows_an_updated_p_and_a_grown_bank(tmp_path, shared_data, smollm):
    from cli import load_seeds
    from graph.context import Context
    from graph.runs import RunStore
    from memory import MemoryBank

    seeds = load_seeds(str(shared_data / "alpaca-gpt4-demo" / "alpaca_en_demo.json"), 5)
    ctx = Context.build(run_dir=str(tmp_path / "run"), memory_path=str(tmp_path / "bank"),
                        cache_path=str(tmp_path / "cache.sqlite"), star_m=2, star_l=1, star_rewrite_tokens=48,
                        star_response_tokens=48, star_beta=0.2)
    _, values = RunStore(tmp_path / "runs.sqlite").start("star-agents", {"seeds": seeds, "source": "alpaca_en_demo.json"}, ctx)
    rep = values["report"]
    c = rep["counts"]
    assert c["seeds"] == 5 and c["candidates"] == 5 * 3 and c["generated"] == 5 * 2
    records = [json.loads((tmp_path / "run" / "seeds" / f"{i:05d}.json").read_text()) for i in range(5)]
    for r in records:
        for cand in r["candidates"]:
            if cand["status"] == "ok" and cand["source"] != "base":
                # the log-prob judge always decides, and the target's IFD is a real number
                assert cand["verdict"] in ("A", "B", "tie") and cand["ifd_small"] > 0
                assert cand["response"].strip()
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == c["kept"] == 5
    assert all(r["score"] is not None and r["pair"] and r["seed"]["instruction"] for r in rows)
    # p_jk moved exactly when a sampled pair beat the seed row (the base pair)
    start, end = rep["probabilities"]["start"], rep["probabilities"]["end"]
    assert (end != pytest.approx(start)) == (c["improved"] > 0)
    # the bank grew by every kept row scoring >= star_memory_min_score, and returns its pair
    assert c["memory_added"] == sum(r["score"] >= 0.5 for r in rows) > 0
    bank = MemoryBank(ctx.memory_path)
    assert bank.count() == c["memory_added"]
    hit = bank.search(rows[0]["messages"][0]["content"], k=1)[0]
    assert hit["pair"] and hit["data_score"] is not None
