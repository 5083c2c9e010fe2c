"""Updating the policy with the curated data, and measuring the update on held-out instructions.

The held-out comparison is always original (B) vs updated (A): by the task's verifier when an
item carries answers/checks (win = only the updated answer passes), else by the pairwise judge
in both orders. Items neither can decide are "no verdict", never a win or a loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import llms
from graph.context import Context


@dataclass
class Outcome:
    winner: str | None  # "A" (updated), "B" (original), "tie", None (no verdict)
    reason: str = ""


def update_policy(ctx: Context, dataset: list[dict]) -> dict:
    if ctx.update == "icl":
        from trainers.icl import pack

        policy = llms.load(ctx.policy, dtype=ctx.dtype)
        # Best-judged rows first; rows the judge could not score keep their curated order.
        packed = pack(dataset, policy.count_tokens, ctx.icl_token_budget,
                      score=lambda r: (r.get("judge") or {}).get("score"))
        return {"kind": "icl", "policy": ctx.policy, "context": packed.text, "rows_used": len(packed.used),
                "rows_dropped": len(packed.dropped), "tokens": packed.tokens}
    if ctx.update == "sft":
        if not dataset:
            return {"kind": "sft", "policy": ctx.policy, "note": "no curated data: nothing to train, the policy is unchanged"}
        from trainers.session import with_adapter
        from trainers.sft import run_sft

        adapter = run_sft(None, dataset, Path(ctx.run_dir) / "sft", base=ctx.policy, recipe=ctx.sft_recipe)
        return {"kind": "sft", "policy": with_adapter(ctx.policy, adapter), "adapter": str(adapter), "rows_used": len(dataset)}
    raise ValueError(f"unknown update {ctx.update!r}: use icl or sft")


def _answers(ctx: Context, spec: str, prompts: list) -> list[str]:
    llm = llms.load(spec, dtype=ctx.dtype)
    return llm.complete(prompts, max_new_tokens=ctx.eval_max_new_tokens, temperature=ctx.temperature,
                        seed=ctx.seed, batch_size=ctx.batch_size)


def verdict_by_verifier(item: dict, updated: str, original: str) -> Outcome:
    from scoring.verify import verify

    a, b = verify(item, updated), verify(item, original)
    if a is None or b is None:
        return Outcome(None, "nothing to verify")
    if a == b:
        return Outcome("tie", "both pass" if a else "both fail")
    return Outcome("A" if a else "B", "only the updated answer passes" if a else "only the original answer passes")


def evaluate_held_out(ctx: Context, held_out: list, updated: dict) -> dict:
    items = [{"instruction": h} if isinstance(h, str) else dict(h) for h in held_out]
    if not items:
        raise ValueError("the task has no held-out instructions: add some under 'held_out' to measure the update")
    instructions = [it["instruction"] for it in items]
    original = _answers(ctx, ctx.policy, instructions)
    if updated["kind"] == "icl":
        from trainers.icl import icl_prompt

        new = _answers(ctx, ctx.policy, [icl_prompt(updated["context"], i) for i in instructions])
    else:
        new = _answers(ctx, updated["policy"], instructions)

    verifiable = [i for i, it in enumerate(items) if it.get("answers") or it.get("checks")]
    mode = ctx.judge_mode
    if mode == "verify" or (mode == "auto" and verifiable):
        use_verifier = set(verifiable)
    elif mode in ("auto", "pairwise", "reward"):
        use_verifier = set()
    else:
        raise ValueError(f"unknown judge_mode {mode!r}: use auto, pairwise, reward or verify")
    outcomes: list[Outcome | None] = [None] * len(items)
    for i in use_verifier:
        outcomes[i] = verdict_by_verifier(items[i], new[i], original[i])
    rest = [i for i in range(len(items)) if i not in use_verifier]
    if rest and mode == "verify":
        for i in rest:
            outcomes[i] = Outcome(None, "judge_mode=verify but the item has no answers/checks")
    elif rest:
        from scoring import judge as judging

        if mode == "reward":
            from scoring.reward import reward_pairwise

            if not ctx.reward_model:
                raise ValueError("judge_mode=reward needs Context.reward_model (a sequence-classification model path)")
            verdicts = reward_pairwise(ctx.reward_model, [instructions[i] for i in rest],
                                       [new[i] for i in rest], [original[i] for i in rest],
                                       tie_margin=ctx.tie_margin, batch_size=ctx.batch_size)
        else:
            verdicts = judging.pairwise(llms.load(ctx.judge, dtype=ctx.dtype), [instructions[i] for i in rest],
                                        [new[i] for i in rest], [original[i] for i in rest])
        for i, v in zip(rest, verdicts):
            outcomes[i] = Outcome(v.winner, getattr(v, "reasoning", "") or "")
    from scoring.judge import summarize

    summary = summarize(outcomes)
    records = [{"instruction": it["instruction"], **({"answers": it["answers"]} if it.get("answers") else {}),
                "original": o, "updated": u, "winner": {"A": "updated", "B": "original"}.get(v.winner, v.winner),
                "by": "verifier" if i in use_verifier else mode if mode != "auto" else "pairwise",
                "reason": v.reason}
               for i, (it, o, u, v) in enumerate(zip(items, original, new, outcomes))]
    judged_by = sorted({r["by"] for r in records})
    out = {"summary": summary, "records": records,
           "judge": "verifier" if judged_by == ["verifier"] else
                    (f"pairwise:{ctx.judge}" if judged_by == ["pairwise"] else "+".join(judged_by))}
    if use_verifier:
        from scoring.verify import verify

        checked = sorted(use_verifier)
        out["accuracy"] = {
            "n": len(checked),
            "original": sum(bool(verify(items[i], original[i])) for i in checked) / len(checked),
            "updated": sum(bool(verify(items[i], new[i])) for i in checked) / len(checked),
        }
    return out
