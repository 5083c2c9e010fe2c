"""The pairwise judge (scoring/judge.py), the verdict summary and reward-model verdicts."""

from __future__ import annotations

import pytest

from graph.prompts import JUDGE_PAIRWISE_PROMPT, JUDGE_PAIRWISE_SYSTEM
from scoring import judge
from scoring.reward import verdicts_from_scores
from scoring.verdict import Verdict, summarize

PROMPTS = {"system": JUDGE_PAIRWISE_SYSTEM, "template": JUDGE_PAIRWISE_PROMPT}


# -- judge ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, winner, reasoning", [
    ("A is more accurate. [[A]]", "A", "A is more accurate."),
    ("Both fine.\n[[C]]", "tie", "Both fine."),
    ('Format is "[[A]]" ... but B is better. [[B]]', "B", 'Format is "[[A]]" ... but B is better.'),
    ("I cannot decide.", None, "I cannot decide."),
    ("", None, ""),
])
def test_parse_verdict(text, winner, reasoning):
    v = judge.parse_verdict(text)
    assert (v.winner, v.reasoning, v.raw) == (winner, reasoning, text)


def _judge_by_content(llm, prefer: str):
    """A judge that always prefers the answer containing ``prefer``, whatever its position."""
    def respond(msgs):
        user = msgs[-1]["content"]
        a_part = user.split("[The Start of Assistant B's Answer]")[0]
        return "reasoning... " + ("[[A]]" if prefer in a_part else "[[B]]")
    llm.respond = respond


def test_pairwise_runs_both_orders_and_agrees(fake_llm):
    llm = fake_llm("judge")
    _judge_by_content(llm, "GOOD")
    v = judge.pairwise(llm, ["q1", "q2"], ["GOOD a", "bad a"], ["bad b", "GOOD b"], **PROMPTS)
    assert [x.winner for x in v] == ["A", "B"]
    assert [x.orders for x in v] == [("A", "A"), ("B", "B")]
    # both orders were asked, answers swapped in the second, with the MT-Bench system prompt
    assert llm.calls == 4
    first, swapped = llm.history[0][-1]["content"], llm.history[2][-1]["content"]
    assert first.index("GOOD a") < first.index("bad b")
    assert swapped.index("bad b") < swapped.index("GOOD a")
    assert "impartial judge" in llm.history[0][0]["content"]


def test_position_biased_judge_gives_ties(fake_llm):
    llm = fake_llm("judge")
    llm.respond = lambda msgs: "The first one. [[A]]"  # always the first position
    v = judge.pairwise(llm, ["q"], ["x"], ["y"], **PROMPTS)
    assert v[0].winner == "tie" and v[0].orders == ("A", "B")


def test_no_verdict_in_either_order_is_no_verdict(fake_llm):
    llm = fake_llm("judge")
    # all first-order prompts go out before the swapped ones
    llm.script("A wins [[A]]", "no idea", "tie [[C]]",               # order (A, B) for pairs 1-3
               "I refuse to judge.", "B wins [[A]]", "tie [[C]]")    # order (B, A)
    # pair 1: swapped order unparsable; pair 2: first order unparsable; pair 3: tie in both
    v = judge.pairwise(llm, ["q1", "q2", "q3"], ["a1", "a2", "a3"], ["b1", "b2", "b3"], **PROMPTS)
    assert [x.winner for x in v] == [None, None, "tie"]
    s = summarize(v)
    assert s == {"n": 3, "win": 0, "tie": 1, "lose": 0, "no_verdict": 2, "win_rate": 0.0, "adjusted_win_rate": 0.5}


def test_summarize_hand_computed():
    vs = [Verdict("", w) for w in ["A", "A", "A", "tie", "B", None]]
    s = summarize(vs)
    # decided = 3 win + 1 tie + 1 lose = 5; adjusted = (3 + 0.5) / 5
    assert s == {"n": 6, "win": 3, "tie": 1, "lose": 1, "no_verdict": 1, "win_rate": 0.6, "adjusted_win_rate": 0.7}
    assert summarize([Verdict("", None)])["win_rate"] is None


def test_reward_verdicts_tie_margin():
    v = verdicts_from_scores([1.0, 0.2, 0.5, -1.0], [0.0, 0.1, 0.5, 1.0], tie_margin=0.15)
    assert [x.winner for x in v] == ["A", "tie", "tie", "B"]
    assert [x.score for x in v] == [1.0, 0.5, 0.5, 0.0]
    assert [x.winner for x in verdicts_from_scores([0.2], [0.1])] == ["A"]
    with pytest.raises(ValueError):
        verdicts_from_scores([0.0], [0.0], tie_margin=-1)
