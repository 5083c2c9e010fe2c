"""I-SHEEP self-assessment and its filters (scoring/assess.py) on a scripted model."""

from __future__ import annotations

import math

import pytest

from graph.prompts import SELF_ASSESS_PROMPT
from scoring import assess


# -- self-assessment --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, q, f", [
    ("Quality: 9\nFollowing: 8", 9, 8),
    ("quality 7/10, instruction following: 10/10", 7, 10),
    ("Quality: <1-10>\nFollowing: <1-10>", None, None),  # the echoed placeholder is no rating
    ("Quality: 12\nFollowing: 3", None, 3),  # out of range
    ("It is good.", None, None),
])
def test_parse_assessment(text, q, f):
    a = assess.parse_assessment(text)
    assert (a.quality, a.following) == (q, f)


def test_self_assess_and_threshold_filter(fake_llm):
    llm = fake_llm("assessor")
    llm.script("Quality: 9\nFollowing: 8", "Quality: 9\nFollowing: 7", "I like it")
    rows = [{"instruction": f"i{k}", "response": f"r{k}"} for k in range(3)]
    found = assess.self_assess(llm, rows, prompt=SELF_ASSESS_PROMPT)
    assert found[0].score == pytest.approx(7.5 / 9) and found[1].score == pytest.approx(7 / 9)
    assert found[2].score is None and not found[2].parsed
    assert "[Instruction]\ni1" in llm.history[1][-1]["content"] and "r1" in llm.history[1][-1]["content"]
    kept, stats = assess.threshold_filter(rows, found, threshold=8)
    assert kept == rows[:1] and {k: stats[k] for k in ("kept", "dropped", "unparsable")} == {"kept": 1, "dropped": 2, "unparsable": 1}
    assert stats["dropped_rows"] == [(rows[1], "ratings quality 9 / following 7 below 8"),
                                     (rows[2], "no rating (the assessment did not parse)")]
    kept, _ = assess.threshold_filter(rows, found, threshold=7)
    assert kept == rows[:2]


def test_perplexity_filter_drops_above_50(fake_llm):
    llm = fake_llm("ppl")
    llm.logprob_fn = lambda c, r: [-math.log(60)] if r == "garbage" else [-math.log(5)]
    rows = [{"instruction": "q", "response": "fine"}, {"instruction": "q", "response": "garbage"}]
    kept, stats = assess.perplexity_filter(llm, rows)
    assert kept == rows[:1] and stats["perplexities"] == pytest.approx([5, 60])


def test_density_filter_samples_each_cluster():
    # 6 near-duplicates around (0,0) and 2 around (10,10): one per cluster keeps both regions
    rows = [{"instruction": f"dup {k}", "response": "x"} for k in range(6)] + \
           [{"instruction": f"far {k}", "response": "y"} for k in range(2)]
    vecs = {f"dup {k}\nx": [0.0 + 0.01 * k, 0.0] for k in range(6)}
    vecs.update({f"far {k}\ny": [10.0, 10.0 + 0.01 * k] for k in range(2)})
    embed = lambda texts: [vecs[t] for t in texts]  # noqa: E731
    kept, stats = assess.density_filter(rows, embed, n_clusters=2, per_cluster=1, seed=3)
    assert sorted(stats["clusters"]) == [2, 6] and stats["kept"] == 2
    assert {r["instruction"].split()[0] for r in kept} == {"dup", "far"}
    again, _ = assess.density_filter(rows, embed, n_clusters=2, per_cluster=1, seed=3)
    assert again == kept  # seeded


def test_threshold_filter_keeps_a_rating_exactly_at_the_threshold():
    rows = [{"instruction": f"i{k}", "response": f"r{k}"} for k in range(4)]
    found = [assess.Assessment(8.0, 8.0), assess.Assessment(7.999, 9.0), assess.Assessment(10.0, 7.99),
             assess.Assessment(8.0, None)]
    kept, stats = assess.threshold_filter(rows, found, threshold=8)
    assert kept == rows[:1]
    assert [why for _, why in stats["dropped_rows"]] == [
        "ratings quality 7.999 / following 9 below 8", "ratings quality 10 / following 7.99 below 8",
        "no rating (the assessment did not parse)"]
