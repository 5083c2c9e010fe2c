"""Pairwise LLM judge (MT-Bench prompt, both orders) and the win-rate summary.

Each pair is judged twice, with the answers in both positions, to cancel position bias:

* both orders name the same winner -> that winner ("A", "B" or "tie");
* the orders disagree (e.g. A then B after the swap) -> "tie", as MT-Bench counts inconsistent pairs;
* either order has no parsable verdict -> None ("no verdict"): counted apart, never a win or a loss.

A is always the first answer list (in ADS: the updated policy), B the second.
"""

from __future__ import annotations

import re
from typing import Sequence

from .verdict import Verdict

_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_LABEL = {"A": "A", "B": "B", "C": "tie"}
_SWAP = {"A": "B", "B": "A", "tie": "tie", None: None}


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


def judge_messages(question: str, answer_a: str, answer_b: str, *, system: str, template: str) -> list[dict]:
    """The judge's chat: ``system`` (MT-Bench's by default, graph/prompts.py) and the filled ``template``."""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": template.format(question=question, answer_a=answer_a, answer_b=answer_b)},
    ]


def pairwise(llm, instructions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str], *,
             system: str, template: str, batch_size: int = 8, max_new_tokens: int = 512) -> list[Verdict]:
    """Judge each (instruction, A, B) in both orders with ``llm`` (greedy); one Verdict per pair.
    ``system`` / ``template``: the judge prompt (``JUDGE_PAIRWISE_SYSTEM`` / ``_PROMPT``)."""
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
