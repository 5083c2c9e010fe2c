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


READINGS = ("auto", "logprobs", "tokens", "text")


def pairwise(llm, instructions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str], *,
             system: str, template: str, batch_size: int = 8, max_new_tokens: int = 512, reading: str = "text",
             quality: tuple[str, str] | None = None, tie_margin: float = 0.02) -> list[Verdict]:
    """Judge each (instruction, A, B) with ``llm``; one Verdict per pair, position bias cancelled.

    ``reading``: "text" (MT-Bench: ``system`` / ``template``, a greedy reply in both orders,
    parsed); "tokens" (the same prompt in both orders, read from the probabilities of "A", "B",
    "C" after "[["); "logprobs" (each answer's binary quality score, ``quality`` = (question,
    answer template), compared: within ``tie_margin`` a tie); "auto": "logprobs" where the backend
    gives log-probs, else "text"."""
    import llms

    from .logprob import can_read_logprobs

    n = len(instructions)
    if not (len(answers_a) == len(answers_b) == n):
        raise ValueError(f"got {n} instructions, {len(answers_a)} answers A and {len(answers_b)} answers B")
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}: use {', '.join(READINGS)}")
    if reading == "auto":
        reading = "logprobs" if can_read_logprobs(llm) else "text"
    if reading == "logprobs":
        return _pairwise_by_scores(llm, instructions, answers_a, answers_b, quality, tie_margin, batch_size)
    prompts_ = [judge_messages(q, a, b, system=system, template=template)
                for q, a, b in zip(instructions, answers_a, answers_b)]
    prompts_ += [judge_messages(q, b, a, system=system, template=template)
                 for q, a, b in zip(instructions, answers_a, answers_b)]
    if reading == "tokens":
        from .logprob import VERDICT_TOKENS, verdict_from_logprobs

        texts = [llm.render(p) + "[[" for p in prompts_]
        lps = llm.next_token_logprobs(texts, VERDICT_TOKENS, batch_size=batch_size)
        out = []
        for i in range(n):
            v = verdict_from_logprobs(lps[i], lps[n + i])
            p = ", ".join(f"p({k})={x:.3f}" for k, x in v["p"].items())
            out.append(Verdict(reasoning=f"verdict-token probabilities, both orders averaged: {p}", winner=v["winner"],
                               raw=p, orders=v["orders"]))
        return out
    params = llms.SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    replies = [g[0].text for g in llm.generate(prompts_, params, batch_size=batch_size)]
    return [combine(parse_verdict(replies[i]), parse_verdict(replies[n + i])) for i in range(n)]


def _pairwise_by_scores(llm, instructions, answers_a, answers_b, quality, tie_margin, batch_size) -> list[Verdict]:
    from .logprob import binary_scores, verdict_from_scores

    if not quality:
        raise ValueError("reading='logprobs' needs quality=(question, answer template), e.g. graph/prompts.py's "
                         "JUDGE_QUALITY_QUESTION and JUDGE_QUALITY_ANSWER")
    question, answer = quality
    n = len(instructions)
    filled = [question.format(instruction=q, response=r) for q, r in zip(instructions, answers_a)]
    filled += [question.format(instruction=q, response=r) for q, r in zip(instructions, answers_b)]
    scores = binary_scores(llm, filled, answer, batch_size=batch_size)
    out = []
    for i in range(n):
        a, b = scores[i], scores[n + i]
        winner = verdict_from_scores(a, b, tie_margin=tie_margin)
        out.append(Verdict(reasoning=f"binary quality score A={a:.4f} B={b:.4f} (tie margin {tie_margin:g})",
                           winner=winner, raw=f"{a}\t{b}", orders=(winner,)))
    return out
