"""Pairwise LLM judge (MT-Bench prompt, both orders) and the win-rate summary.

Each pair is judged twice, with the answers in both positions, to cancel position bias:

* both orders name the same winner -> that winner ("A", "B" or "tie");
* the orders disagree (e.g. A then B after the swap) -> "tie", as MT-Bench counts inconsistent pairs;
* either order has no parsable verdict -> None ("no verdict"): counted apart, never a win or a loss.

A is always the first answer list (in ADS: the updated policy), B the second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_LABEL = {"A": "A", "B": "B", "C": "tie"}
_SWAP = {"A": "B", "B": "A", "tie": "tie", None: None}


@dataclass
class Verdict:
    """A judge's decision: its reasoning, then the winner ("A", "B", "tie"; None = no verdict)."""

    reasoning: str
    winner: str | None
    raw: str = ""
    orders: tuple = field(default=())  # the winner each order named, in the caller's A/B terms

    @property
    def score(self) -> float | None:
        """The winner as A's score: 1 win, 0.5 tie, 0 lose; None without a verdict."""
        return {"A": 1.0, "tie": 0.5, "B": 0.0}.get(self.winner) if self.winner else None

    def to_dict(self) -> dict:
        return {"winner": self.winner, "reasoning": self.reasoning, "orders": list(self.orders), "raw": self.raw}


def parse_verdict(text: str) -> Verdict:
    """One judge reply -> Verdict. The last [[A]]/[[B]]/[[C]] counts (the verdict comes after the
    reasoning, which may quote the format); no marker -> winner None."""
    found = list(_VERDICT.finditer(text or ""))
    if not found:
        return Verdict(reasoning=(text or "").strip(), winner=None, raw=text or "")
    last = found[-1]
    return Verdict(reasoning=text[: last.start()].strip(), winner=_LABEL[last.group(1)], raw=text)


def combine(first: Verdict, swapped: Verdict) -> Verdict:
    """Merge the verdict on (A, B) with the verdict on the swapped order (B, A)."""
    w1, w2 = first.winner, _SWAP[swapped.winner]
    if w1 is None or w2 is None:
        winner = None
    elif w1 == w2:
        winner = w1
    else:
        winner = "tie"
    reasoning = f"[order A,B] {first.reasoning}\n[order B,A] {swapped.reasoning}"
    raw = f"{first.raw}\n=====\n{swapped.raw}"
    return Verdict(reasoning=reasoning, winner=winner, raw=raw, orders=(w1, w2))


def judge_messages(question: str, answer_a: str, answer_b: str, *, system: str | None = None,
                   template: str | None = None) -> list[dict]:
    from graph import prompts

    return [
        {"role": "system", "content": system or prompts.JUDGE_PAIRWISE_SYSTEM},
        {"role": "user", "content": (template or prompts.JUDGE_PAIRWISE_PROMPT).format(
            question=question, answer_a=answer_a, answer_b=answer_b)},
    ]


def pairwise(llm, instructions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str], *,
             batch_size: int = 8, max_new_tokens: int = 512, system: str | None = None,
             template: str | None = None) -> list[Verdict]:
    """Judge each (instruction, A, B) in both orders with ``llm`` (greedy); one Verdict per pair."""
    import llms

    n = len(instructions)
    if not (len(answers_a) == len(answers_b) == n):
        raise ValueError(f"got {n} instructions, {len(answers_a)} answers A and {len(answers_b)} answers B")
    prompts_ = [judge_messages(q, a, b, system=system, template=template)
                for q, a, b in zip(instructions, answers_a, answers_b)]
    prompts_ += [judge_messages(q, b, a, system=system, template=template)
                 for q, a, b in zip(instructions, answers_a, answers_b)]
    params = llms.SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    replies = [g[0].text for g in llm.generate(prompts_, params, batch_size=batch_size)]
    return [combine(parse_verdict(replies[i]), parse_verdict(replies[n + i])) for i in range(n)]


def summarize(verdicts: Sequence[Verdict]) -> dict:
    """Counts and rates for A (the updated policy) against B.

    win_rate = win / decided and adjusted_win_rate = (win + 0.5 x tie) / decided, where
    decided = win + tie + lose: pairs without a verdict are reported in ``no_verdict`` and left
    out of both rates (counting them as losses would punish the judge's failures on the policy).
    Rates are None when nothing was decided.
    """
    win = sum(v.winner == "A" for v in verdicts)
    lose = sum(v.winner == "B" for v in verdicts)
    tie = sum(v.winner == "tie" for v in verdicts)
    no_verdict = sum(v.winner is None for v in verdicts)
    decided = win + tie + lose
    return {
        "n": len(verdicts), "win": win, "tie": tie, "lose": lose, "no_verdict": no_verdict,
        "win_rate": win / decided if decided else None,
        "adjusted_win_rate": (win + 0.5 * tie) / decided if decided else None,
    }
