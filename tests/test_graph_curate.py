"""The curation pipeline (graph/curate.py) on hand-made rows: each step drops what it should, says why."""

from __future__ import annotations

import pytest

from graph.context import Context
from graph.improve.curate import curate, needed_scores
from graph.options import ConfigError

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
        ("empty", 4, 3, 1), ("dedupe", 3, 2, 1), ("verify", 2, 2, 0), ("grounded", 2, 2, 0)]
    assert log[1]["examples"][0]["text"] == "mars is RED."


def test_judge_threshold_keeps_unrated_rows():
    rows = [pair("a?", "x", judge={"score": 0.9}), pair("b?", "y", judge={"score": 0.2}), pair("c?", "z", judge={"score": None})]
    kept, dropped, _ = run(rows, curation=["judge"], min_judge_score=0.5)
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


def test_format_rejects_malformed_demonstrations():
    from graph.improve.curate import format_problem

    assert format_problem(pair("What is the capital of France?", "Paris is the capital of France.")) is None
    assert format_problem(pair("Write a haiku about rain.", "Soft rain on the roof...")) is None
    # the row that derailed a task: a statement where the instruction should be, a leftover marker as the answer
    assert format_problem(pair("The cat sat on the mat.", "Premise: the cat sat on the mat.")) == \
        "the instruction is a statement, not a request"
    assert format_problem(pair("Name a planet.", "Premise: Mars is a planet.")) == "a leftover format marker (Premise:, Instruction:, ...)"
    assert format_problem(pair("Explain why the sky is blue.", "Explain why the sky is blue.")) == "the response restates the instruction"
    assert format_problem(DOC) is None  # documents are not pairs
    kept, dropped, _ = run([pair("The cat sat on the mat.", "Premise: x"), pair("Why?", "Because.")], curation="format")
    assert [r["instruction"] for r in kept] == ["Why?"] and dropped[0]["step"] == "format"


def test_relevance_drops_rows_far_from_every_observed_instruction():
    from graph.improve.curate import relevance_scores

    def encode(texts):  # toy unit vectors: "planet" texts along x, everything else along y
        import numpy as np

        return np.array([[1.0, 0.0] if "planet" in t.lower() or "mars" in t.lower() else [0.0, 1.0] for t in texts])

    rows = [DOC, {"type": "document", "title": "Earth science", "text": "The study of rocks."}, pair("Which planet is red?", "Mars.")]
    scores = relevance_scores(rows, ["How big is the planet Mars?"], encode)
    assert scores == [1.0, 0.0, 1.0]
    kept, dropped, _ = run([{**r, "relevance": s} for r, s in zip(rows, scores)], curation="relevance")
    assert [r.get("title") or r["instruction"] for r in kept] == ["Mars", "Which planet is red?"]
    assert dropped[0]["reason"] == "relevance 0.00 < 0.3 to the nearest observed instruction"


def test_relevance_and_format_on_the_real_embedder():
    from graph.improve.curate import relevance_scores
    from llms.embeddings import load_embedder

    rows = [{"type": "document", "title": "Jupiter", "text": "Jupiter is the largest planet in the Solar System."},
            {"type": "document", "title": "Earth science", "text": "Earth science is the study of the Earth's rocks."},
            pair("How many moons does Saturn have?", "Saturn has many moons.")]
    scores = relevance_scores(rows, ["How big is Jupiter?", "What is Saturn's largest moon?"], load_embedder().encode)
    assert scores[0] > 0.5 and scores[2] > 0.5 and scores[1] < min(scores[0], scores[2]) - 0.2
