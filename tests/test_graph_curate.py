"""The curation pipeline (graph/curate.py) on hand-made rows: each step drops what it should, says why."""

from __future__ import annotations

import pytest

from graph.context import ConfigError, Context
from graph.curate import curate, needed_scores

DOC = {"type": "document", "text": "Mars is red.", "title": "Mars", "call": 0}


def pair(instruction, response, **scores):
    return {"type": "demonstration", "instruction": instruction, "response": response, "call": 1, **scores}


def run(rows, **settings):
    return curate(rows, Context.build(settings))


def test_default_steps_drop_empty_rows_and_duplicates_and_log_each_step():
    rows = [DOC, {**DOC, "text": "  mars is RED. "}, pair("Q?", ""), pair("How?", "So.")]
    kept, dropped, log = run(rows)
    assert [r.get("instruction") or r["text"] for r in kept] == ["Mars is red.", "How?"]
    assert [(d["step"], d["reason"]) for d in dropped] == [("empty", "empty"), ("dedupe", "duplicate")]
    assert [(s["step"], s["in"], s["kept"], s["dropped"]) for s in log] == [
        ("empty", 4, 3, 1), ("dedupe", 3, 2, 1), ("judge", 2, 2, 0)]
    assert log[1]["examples"][0]["text"] == "mars is RED."


def test_judge_threshold_keeps_unrated_rows():
    rows = [pair("a?", "x", judge={"score": 0.9}), pair("b?", "y", judge={"score": 0.2}), pair("c?", "z", judge={"score": None})]
    kept, dropped, _ = run(rows, min_judge_score=0.5)
    assert [r["instruction"] for r in kept] == ["a?", "c?"]
    assert dropped[0]["reason"] == "judge score 0.20 < 0.5"


def test_isheep_needs_both_ratings_at_the_threshold_and_drops_unrated_rows():
    rows = [pair("a?", "x", judge={"quality": 8, "following": 8}), pair("b?", "y", judge={"quality": 9, "following": 7}),
            pair("c?", "z", judge={"quality": None, "following": 9})]
    kept, dropped, _ = run(rows, curation=["isheep"])
    assert [r["instruction"] for r in kept] == ["a?"]
    kept, _, _ = run(rows, curation=["isheep"], assess_threshold=7)
    assert [r["instruction"] for r in kept] == ["a?", "b?"]
    assert "did not parse" in dropped[1]["reason"]


def test_perplexity_and_ifd_band_pass_documents_through():
    rows = [DOC, pair("a?", "x", ppl=12.0, ifd=0.4), pair("b?", "y", ppl=80.0, ifd=0.5), pair("c?", "z", ppl=20.0, ifd=1.3)]
    kept, dropped, _ = run(rows, curation=["perplexity"])
    assert len(kept) == 3 and dropped[0]["reason"] == "perplexity 80.0 > 50"
    kept, _, _ = run(rows, curation=["perplexity"], max_perplexity=100)
    assert len(kept) == 4
    kept, dropped, _ = run(rows, curation=["ifd"])
    assert [r.get("instruction") for r in kept] == [None, "a?", "b?"] and "IFD 1.300 outside [0, 1)" == dropped[0]["reason"]
    kept, _, _ = run(rows, curation=["ifd"], min_ifd=0.45)
    assert [r.get("instruction") for r in kept] == [None, "b?"]


def test_star_keeps_rows_whose_judge_times_dual_ifd_is_positive():
    rows = [pair("a?", "x", judge={"score": 0.8}, dual_ifd=0.5), pair("b?", "y", judge={"score": 0.9}, dual_ifd=-0.2),
            pair("c?", "z", judge={"score": None}, dual_ifd=1.0)]
    kept, dropped, _ = run(rows, curation=["star"], large_model="fake:large")
    assert [r["instruction"] for r in kept] == ["a?"] and kept[0]["star_score"] == pytest.approx(0.4)
    assert [d["reason"][:9] for d in dropped] == ["composite", "no compos"]


def test_a_step_setting_without_its_step_is_refused():
    with pytest.raises(ConfigError, match="max_perplexity is a setting of the curation step 'perplexity'"):
        Context.build(max_perplexity=30)
    with pytest.raises(ConfigError, match="large_model is a setting of the curation step 'star'"):
        Context.build(large_model="fake:large")
    with pytest.raises(ConfigError, match="needs large_model"):
        Context.build(curation="star")
    with pytest.raises(ConfigError, match="unknown curation step"):
        Context.build(curation="dedupe,nonsense")


def test_needed_scores_follow_the_steps():
    assert needed_scores(["dedupe"]) == set()
    assert needed_scores(["judge", "perplexity"]) == {"judge", "ifd"}
    assert needed_scores(["star"]) == {"judge", "ifd", "dual_ifd"}
