"""Judging with log-probabilities: a small model's rating or verdict is read from the probabilities
it puts on the answer tokens, so it is never "unparsable".

Where the backend gives log-probs (local transformers, vLLM), the judge's reply is started for it
("... Quality: ", "... [[") and the next-token probabilities of the answers are read:

* a 1-10 rating is the probability-weighted mean over the ratings ``1`` .. ``10``, renormalised
  over them (``mass`` says how much probability the model put on a rating at all). With a
  tokenizer that writes 10 as "1" then "0", p("1" first) includes p("10"), so p(1) = p("1") - p("10");
* a pairwise verdict: p(A), p(B), p(C = tie) after "[[", in both answer orders; the second
  order's A and B are swapped back and both orders averaged, and the likeliest outcome wins.

The pure math is here (tested with hand-computed numbers); ``scoring.assess.self_assess`` and
``scoring.judge.pairwise`` call it when ``reading="logprobs"`` (or "auto" on a backend that can).
"""

from __future__ import annotations

import math
from typing import Sequence

RATINGS = tuple(str(r) for r in range(1, 11))
VERDICT_TOKENS = ("A", "B", "C")


def can_read_logprobs(llm) -> bool:
    """Whether ``llm`` can render its chat template and score next tokens (local, vLLM; not an
    endpoint): tried once per model on a two-token probe."""
    import llms

    known = getattr(llm, "_reads_logprobs", None)
    if known is None:
        try:
            llm.next_token_logprobs([llm.render("Say yes.")], ["Yes"])
            known = True
        except (llms.UnsupportedOperation, NotImplementedError):
            known = False
        try:
            llm._reads_logprobs = known
        except AttributeError:  # a model object that takes no new attributes: probe again next time
            pass
    return known


def parse_binary_answer(template: str) -> tuple[str, str, str]:
    """"This answer is [good|bad]" -> ("This answer is", " good", " bad")."""
    import re

    m = re.fullmatch(r"(?s)(.*?)(\s*)\[([^|\]]+)\|([^|\]]+)\]\s*", template)
    if not m:
        raise ValueError(f"a binary answer template reads '<reply prefix> [<positive>|<negative>]', not {template!r}")
    prefix, space = m.group(1), m.group(2) or ""
    return prefix, space + m.group(3).strip(), space + m.group(4).strip()


def binary_scores(llm, questions: Sequence[str], answer_template: str, *, batch_size: int = 8) -> list[float]:
    """p(positive) / (p(positive) + p(negative)) for each filled question (see ``parse_binary_answer``)."""
    prefix, yes, no = parse_binary_answer(answer_template)
    texts = [llm.render(q) + prefix for q in questions]
    out = []
    for lp_yes, lp_no in llm.next_token_logprobs(texts, [yes, no], batch_size=batch_size):
        top = max(lp_yes, lp_no)
        p_yes, p_no = math.exp(lp_yes - top), math.exp(lp_no - top)
        out.append(p_yes / (p_yes + p_no))
    return out


def verdict_from_scores(score_a: float, score_b: float, *, tie_margin: float) -> str:
    """A's verdict from two pointwise scores: "A" / "B" when they differ by more than ``tie_margin``."""
    d = score_a - score_b
    return "A" if d > tie_margin else "B" if d < -tie_margin else "tie"


def rating_from_logprobs(logprobs: Sequence[float], *, ten_starts_with_one: bool) -> dict:
    """``logprobs`` of "1" .. "10" as the next text -> {"rating": expected 1-10, "probs", "mass"}."""
    if len(logprobs) != 10:
        raise ValueError(f"need the log-probs of the 10 ratings, got {len(logprobs)}")
    p = [math.exp(v) for v in logprobs]
    if ten_starts_with_one:  # p("1" ...) counted "10" too
        p[0] = max(p[0] - p[9], 0.0)
    mass = sum(p)
    if mass <= 0:
        return {"rating": None, "probs": [0.0] * 10, "mass": 0.0}
    probs = [x / mass for x in p]
    return {"rating": sum(r * q for r, q in zip(range(1, 11), probs)), "probs": probs, "mass": mass}


def verdict_from_logprobs(first: Sequence[float], swapped: Sequence[float]) -> dict:
    """Log-probs of "A", "B", "C" after "[[" in order (A, B) and in the swapped order (B, A) ->
    {"winner": "A" | "B" | "tie", "p": {"A", "B", "tie"}, "orders": (winner 1st, winner 2nd)}."""
    def norm(lps):
        p = [math.exp(v) for v in lps]
        total = sum(p) or 1.0
        return [x / total for x in p]

    a1, b1, c1 = norm(first)
    b2, a2, c2 = norm(swapped)  # in the swapped order "A" names the caller's B
    p = {"A": (a1 + a2) / 2, "B": (b1 + b2) / 2, "tie": (c1 + c2) / 2}
    winner = max(p, key=p.get)

    def top(x, y, z):
        return max((("A", x), ("B", y), ("tie", z)), key=lambda t: t[1])[0]

    return {"winner": winner, "p": p, "orders": (top(a1, b1, c1), top(a2, b2, c2))}
