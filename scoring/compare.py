"""Answer A (updated) vs answer B (original) on each item: by verifier, LLM judge or reward model.

``compare(items, answers_a, answers_b, ...)`` picks the way per item (``mode``):

* ``verify``: the item's verifier (answers, GSM8K number, IFEval checks): win = only A passes,
  lose = only B passes, tie = both or neither; an item with nothing to verify gets no verdict;
* ``pairwise``: the LLM judge in both answer orders (``scoring.judge``);
* ``reward``: a sequence-classification reward model (``scoring.reward``);
* ``auto``: verify where an item carries answers/checks, the rest by reward model when one is
  given, else by the pairwise judge.

Every way returns the same ``Verdict``; ``summarize`` counts them and ``accuracy`` reports the
verified items' pass rates with the paired counts (items only A passes, only B passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .verdict import Verdict, summarize

MODES = ("auto", "pairwise", "reward", "verify")


@dataclass
class Comparison:
    verdicts: list[Verdict]
    by: list[str]  # per item: "verifier", "pairwise", "reward" or "none"
    summary: dict  # scoring.verdict.summarize
    judge: str  # what decided: "verifier", "pairwise:<spec>", "reward:<model>", or a "+" mix
    accuracy: dict | None = None  # verified items: n, original, updated, gained, lost
    passed: list = field(default_factory=list)  # per item (A passes, B passes) or None


def verify_pair(item: dict, answer_a: str, answer_b: str) -> tuple[Verdict, tuple | None]:
    """The verifier's verdict on A vs B, and (A passes, B passes) when the item is verifiable."""
    from .verify import verify

    a, b = verify(item, answer_a), verify(item, answer_b)
    if a is None or b is None:
        return Verdict("nothing to verify", None), None
    if a == b:
        return Verdict("both pass" if a else "both fail", "tie"), (a, b)
    return Verdict("only the updated answer passes" if a else "only the original answer passes", "A" if a else "B"), (a, b)


def is_verifiable(item: dict) -> bool:
    from .verify import verifier_of

    return verifier_of(item) is not None


def compare(items: Sequence[dict], answers_a: Sequence[str], answers_b: Sequence[str], *, mode: str = "auto",
            judge=None, judge_system: str | None = None, judge_template: str | None = None,
            reward_model=None, tie_margin: float = 0.0, batch_size: int = 8,
            judge_max_new_tokens: int = 512, judge_reading: str = "text", judge_quality: tuple | None = None,
            judge_tie_margin: float = 0.02) -> Comparison:
    """A vs B on every item. ``judge``: an ``llms.LLM`` (pairwise, read as ``judge_reading``, see
    ``scoring.judge.pairwise``); ``reward_model``: a RewardModel or a name/path (reward, ties
    within ``tie_margin``). A way the mode needs but was not given raises ValueError."""
    if mode not in MODES:
        raise ValueError(f"unknown judge_mode {mode!r}: use {', '.join(MODES)}")
    n = len(items)
    if not (len(answers_a) == len(answers_b) == n):
        raise ValueError(f"{n} items but {len(answers_a)} answers A and {len(answers_b)} answers B")
    verdicts: list[Verdict | None] = [None] * n
    by = ["none"] * n
    passed: list = [None] * n
    rest = []
    for i, item in enumerate(items):
        if mode in ("auto", "verify") and is_verifiable(item):
            verdicts[i], passed[i] = verify_pair(item, answers_a[i], answers_b[i])
            by[i] = "verifier"
        elif mode == "verify":
            verdicts[i] = Verdict("judge_mode=verify but the item has no answers/checks", None)
        else:
            rest.append(i)
    way = "reward" if mode == "reward" or (mode == "auto" and reward_model is not None) else "pairwise"
    if rest:
        qs = [items[i]["instruction"] for i in rest]
        a, b = [answers_a[i] for i in rest], [answers_b[i] for i in rest]
        if way == "reward":
            if reward_model is None:
                raise ValueError("judge_mode=reward needs a reward model (Context.reward_model: a sequence-classification model)")
            from .reward import reward_pairwise

            got = reward_pairwise(reward_model, qs, a, b, tie_margin=tie_margin, batch_size=batch_size)
        else:
            if judge is None or judge_system is None or judge_template is None:
                raise ValueError("pairwise judging needs a judge model and its prompts")
            from .judge import pairwise

            got = pairwise(judge, qs, a, b, system=judge_system, template=judge_template, batch_size=batch_size,
                           max_new_tokens=judge_max_new_tokens, reading=judge_reading, quality=judge_quality,
                           tie_margin=judge_tie_margin)
        for i, v in zip(rest, got):
            verdicts[i], by[i] = v, way
    names = sorted({x for x in by if x != "none"})
    label = {"verifier": "verifier", "pairwise": f"pairwise:{getattr(judge, 'spec', judge)}",
             "reward": f"reward:{getattr(reward_model, 'name', reward_model)}"}
    return Comparison(verdicts=verdicts, by=by, summary=summarize(verdicts), passed=passed,
                      judge="+".join(label[x] for x in names) or "none", accuracy=accuracy(passed))


def accuracy(passed: Sequence[tuple | None]) -> dict | None:
    """Pass rates of A ("updated") and B ("original") over the verified items, with the paired
    counts: ``gained`` = only A passes, ``lost`` = only B passes. None without a verified item."""
    checked = [p for p in passed if p is not None]
    if not checked:
        return None
    n = len(checked)
    return {"n": n, "original": sum(b for _, b in checked) / n, "updated": sum(a for a, _ in checked) / n,
            "gained": sum(a and not b for a, b in checked), "lost": sum(b and not a for a, b in checked)}
