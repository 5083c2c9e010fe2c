"""scoring/logprob.py: reading judges from log-probabilities, against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from graph.prompts import JUDGE_FOLLOWING_ANSWER, JUDGE_FOLLOWING_QUESTION, JUDGE_QUALITY_ANSWER, JUDGE_QUALITY_QUESTION
from scoring import logprob
from scoring.assess import self_assess
from scoring.judge import pairwise


def test_binary_answer_templates():
    assert logprob.parse_binary_answer("This answer is [good|bad]") == ("This answer is", " good", " bad")
    assert logprob.parse_binary_answer("Verdict:[yes|no]") == ("Verdict:", "yes", "no")
    with pytest.raises(ValueError, match=r"\[<positive>\|<negative>\]"):
        logprob.parse_binary_answer("This answer is good or bad")


def test_rating_mean_removes_ten_from_one_when_ten_starts_with_one():
    p = [0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.1]  # "1" (incl. "10") 0.3, "8" 0.2, "10" 0.1
    lps = [math.log(x) if x else -1e9 for x in p]
    got = logprob.rating_from_logprobs(lps, ten_starts_with_one=True)
    # p(1) = 0.3 - 0.1 = 0.2; mass 0.2 + 0.2 + 0.1 = 0.5; mean (1 x 0.2 + 8 x 0.2 + 10 x 0.1) / 0.5 = 5.6
    assert got["mass"] == pytest.approx(0.5) and got["rating"] == pytest.approx(5.6)
    plain = logprob.rating_from_logprobs(lps, ten_starts_with_one=False)
    assert plain["rating"] == pytest.approx((0.3 + 1.6 + 1.0) / 0.6)


def test_verdict_tokens_both_orders():
    first = [math.log(0.6), math.log(0.3), math.log(0.1)]  # order (A, B): A
    swapped = [math.log(0.5), math.log(0.4), math.log(0.1)]  # order (B, A): "A" here is the caller's B
    v = logprob.verdict_from_logprobs(first, swapped)
    # p(A) = (0.6 + 0.4) / 2 = 0.5, p(B) = (0.3 + 0.5) / 2 = 0.4, p(tie) = 0.1
    assert v["winner"] == "A" and v["p"] == pytest.approx({"A": 0.5, "B": 0.4, "tie": 0.1})
    assert v["orders"] == ("A", "B")  # each order alone named its first answer: position bias


def test_scores_to_verdicts_with_a_tie_margin():
    assert logprob.verdict_from_scores(0.70, 0.60, tie_margin=0.02) == "A"
    assert logprob.verdict_from_scores(0.60, 0.61, tie_margin=0.02) == "tie"
    assert logprob.verdict_from_scores(0.40, 0.60, tie_margin=0.0) == "B"


def fake_reader(fake_llm, good_words=("Paris",)):
    """A scripted judge whose p(good) is 0.8 for answers naming a good word, 0.3 otherwise."""
    llm = fake_llm("reader")

    def lp(context, continuation):
        good = any(w in context.split("Question:")[-1] for w in good_words)
        p = 0.8 if good else 0.3
        return [math.log(p if continuation.strip() in ("good", "relevant") else 1 - p)]

    llm.logprob_fn = lp
    return llm


BINARY = {"quality": (JUDGE_QUALITY_QUESTION, JUDGE_QUALITY_ANSWER),
          "following": (JUDGE_FOLLOWING_QUESTION.replace("Instruction:", "Question:"), JUDGE_FOLLOWING_ANSWER)}


def test_self_assessment_by_log_probs_is_never_unparsable(fake_llm):
    llm = fake_reader(fake_llm)
    rows = [{"instruction": "Capital of France?", "response": "Paris."}, {"instruction": "Capital of France?", "response": "Bananas."}]
    got = self_assess(llm, rows, prompt="unused {instruction} {response}", binary=BINARY)  # "auto": the fake reads log-probs
    assert [a.reading for a in got] == ["logprobs", "logprobs"] and all(a.parsed for a in got)
    assert got[0].quality == pytest.approx(1 + 9 * 0.8) and got[1].quality == pytest.approx(1 + 9 * 0.3)
    assert got[0].score > got[1].score and llm.calls == 0  # no text was generated


def test_pairwise_by_log_probs_compares_quality_scores(fake_llm):
    llm = fake_reader(fake_llm)
    v = pairwise(llm, ["Capital of France?"] * 2, ["Paris.", "Bananas."], ["Bananas.", "Lyon."], system="", template="",
                 reading="logprobs", quality=BINARY["quality"])
    assert [x.winner for x in v] == ["A", "tie"] and "A=0.8000 B=0.3000" in v[0].reasoning


def test_auto_falls_back_to_text_where_there_are_no_log_probs(fake_llm):
    llm = fake_llm("texter").script("Quality: 9\nFollowing: 8")
    got = self_assess(llm, [{"instruction": "q", "response": "r"}], prompt="{instruction} {response}", binary=BINARY)
    assert got[0].reading == "text" and (got[0].quality, got[0].following) == (9, 8)
