"""scoring/compare.py: per-item dispatch to verifier / judge / reward model, and paired accuracy."""

from __future__ import annotations

import pytest

from graph.prompts import JUDGE_PAIRWISE_PROMPT, JUDGE_PAIRWISE_SYSTEM
from scoring.compare import accuracy, compare

ITEMS = [{"instruction": "Capital of France?", "answers": ["Paris"]},
         {"instruction": "Capital of Peru?", "answers": ["Lima"]},
         {"instruction": "Capital of Chad?", "answers": ["N'Djamena"]},
         {"instruction": "Write a poem."}]
A = ["Paris.", "I do not know.", "Lima?", "roses"]
B = ["Lyon.", "Lima.", "no idea", "violets"]
PROMPTS = {"judge_system": JUDGE_PAIRWISE_SYSTEM, "judge_template": JUDGE_PAIRWISE_PROMPT}


def test_auto_verifies_what_it_can_and_judges_the_rest(fake_llm):
    judge = fake_llm("judge")
    judge.respond = lambda m: "A is a better poem. [[A]]" if "roses" in m[-1]["content"].split("[The Start of Assistant B")[0] else "[[B]]"
    result = compare(ITEMS, A, B, judge=judge, **PROMPTS)
    assert [v.winner for v in result.verdicts] == ["A", "B", "tie", "A"]
    assert result.by == ["verifier", "verifier", "verifier", "pairwise"] and result.judge == "pairwise:fake:judge+verifier"
    assert result.summary == {"n": 4, "win": 2, "tie": 1, "lose": 1, "no_verdict": 0, "win_rate": 2 / 4,
                              "adjusted_win_rate": 2.5 / 4}
    # paired: Paris gained, Lima lost, Chad failed by both
    assert result.accuracy == {"n": 3, "original": 1 / 3, "updated": 1 / 3, "gained": 1, "lost": 1}
    assert len(judge.history) == 2  # the one unverifiable item, in both orders


def test_verify_mode_gives_no_verdict_without_answers_and_never_calls_a_judge():
    result = compare(ITEMS, A, B, mode="verify")
    assert result.verdicts[3].winner is None and result.by[3] == "none"
    assert result.summary["no_verdict"] == 1 and result.judge == "verifier"


def test_pairwise_mode_judges_even_verifiable_items(fake_llm):
    judge = fake_llm("judge")
    judge.respond = lambda m: "[[C]]"
    result = compare(ITEMS, A, B, mode="pairwise", judge=judge, **PROMPTS)
    assert result.by == ["pairwise"] * 4 and result.accuracy is None and result.summary["tie"] == 4


def test_missing_judges_and_unknown_modes_are_errors():
    with pytest.raises(ValueError, match="needs a reward model"):
        compare(ITEMS, A, B, mode="reward")
    with pytest.raises(ValueError, match="needs a judge model"):
        compare(ITEMS, A, B)
    with pytest.raises(ValueError, match="unknown judge_mode"):
        compare(ITEMS, A, B, mode="vibes")
    with pytest.raises(ValueError, match="4 items but 3 answers A"):
        compare(ITEMS, A[:3], B, mode="verify")


def test_accuracy_from_a_hand_made_table():
    assert accuracy([None, None]) is None
    table = [(True, True), (True, False), (False, True), (False, False), (True, False), None]
    assert accuracy(table) == {"n": 5, "original": 2 / 5, "updated": 3 / 5, "gained": 2, "lost": 1}
