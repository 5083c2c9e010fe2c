"""The held-out measurement: the original and the updated policy answer the held-out instructions,
and ``scoring.compare`` decides each item, updated (A) against original (B).

The original policy's answers depend only on the policy, the instructions and the generation
settings, so a caller that measures many updates of one task (the evaluation harness, refine)
passes them in once (``original=``) instead of generating them again.
"""

from __future__ import annotations

from graph.context import Context
from graph.nodes import load_model


def items_of(held_out: list) -> list[dict]:
    items = [{"instruction": h} if isinstance(h, str) else dict(h) for h in held_out or []]
    if not items:
        raise ValueError("the task has no held-out instructions: add some under 'held_out' to measure the update")
    return items


def answer_tokens(ctx: Context, item: dict) -> int:
    """How long an answer to this held-out item may be: ``checks_max_new_tokens`` where it carries
    checks (a constraint on length or on the ending needs room), else ``eval_max_new_tokens``."""
    return ctx.checks_max_new_tokens if item.get("checks") else ctx.eval_max_new_tokens


def answer_each(ctx: Context, spec: str, prompts: list, limits: list[int]) -> list[str]:
    """``answer`` with a token limit per prompt: prompts sharing a limit are generated together, and
    the answers come back in the prompts' order (a task mixing items with and without checks gives
    the long limit to those with checks only)."""
    out: list[str | None] = [None] * len(prompts)
    for limit in dict.fromkeys(limits):
        at = [i for i, n in enumerate(limits) if n == limit]
        for i, a in zip(at, answer(ctx, spec, [prompts[i] for i in at], max_new_tokens=limit)):
            out[i] = a
    return out


def answer(ctx: Context, spec: str, prompts: list, *, max_new_tokens: int | None = None) -> list[str]:
    """Greedy (or ``ctx.temperature``) answers of ``spec`` to ``prompts``, ``max_new_tokens`` long
    (default ``eval_max_new_tokens``)."""
    llm = load_model(ctx, spec)
    return llm.complete(prompts, max_new_tokens=max_new_tokens or ctx.eval_max_new_tokens, temperature=ctx.temperature,
                        seed=ctx.seed, batch_size=ctx.batch_size)


def original_answers(ctx: Context, held_out: list) -> list[str]:
    items = items_of(held_out)
    return answer_each(ctx, ctx.policy, [it["instruction"] for it in items], [answer_tokens(ctx, it) for it in items])


def updated_prompts(ctx: Context, held_out: list, updated: dict) -> tuple[str, list]:
    """(model spec, prompt of each held-out instruction) for the updated policy."""
    from trainers.update import prompts_for

    extra = {}
    if updated["kind"] == "icl-knn":
        from llms.embeddings import load_embedder

        extra = {"encode": load_embedder(ctx.embedder).encode, "count_tokens": load_model(ctx, ctx.policy).count_tokens,
                 "document_template": ctx.prompt("ICL_DOCUMENT"), "example_template": ctx.prompt("ICL_EXAMPLE")}
    template = ctx.prompt("ICL_KNN_PROMPT" if updated["kind"] == "icl-knn" else "ICL_PROMPT")
    return prompts_for(updated, [it["instruction"] for it in items_of(held_out)], template, **extra)


def coverage(ctx: Context, held_out: list, updated: dict) -> dict | None:
    """How many held-out items the update gave context to (icl: all, icl-knn: those with a bought
    row above the floor), and, where items carry answers, how many of those contexts hold an
    accepted answer. A measurement of the data bought, never shown to the method; None for sft."""
    from scoring.verify import qa_match

    items = items_of(held_out)
    if updated["kind"] == "icl-knn":
        from llms.embeddings import load_embedder
        from trainers.update import nearest_contexts

        contexts = nearest_contexts(updated, [it["instruction"] for it in items], encode=load_embedder(ctx.embedder).encode,
                                    count_tokens=load_model(ctx, ctx.policy).count_tokens,
                                    document_template=ctx.prompt("ICL_DOCUMENT"), example_template=ctx.prompt("ICL_EXAMPLE"))
    elif updated["kind"] == "icl":
        contexts = [updated.get("context") or ""] * len(items)
    else:
        return None
    per = [{"context": bool(c.strip()),
            "answer_in_context": (bool(c.strip()) and qa_match(c, it["answers"])) if it.get("answers") else None}
           for it, c in zip(items, contexts)]
    return {"items": len(items), "with_context": sum(p["context"] for p in per),
            "with_answers": sum(p["answer_in_context"] is not None for p in per),
            "answer_in_context": sum(bool(p["answer_in_context"]) for p in per), "per_item": per}


def updated_answers(ctx: Context, held_out: list, updates: list[dict], *, original: list[str] | None) -> list[list[str]]:
    """Each update's answers to the held-out items (``asked`` without the record of which fell back)."""
    return [answers for answers, _ in asked(ctx, held_out, updates, original=original)]


def asked(ctx: Context, held_out: list, updates: list[dict], *,
          original: list[str] | None) -> list[tuple[list[str], list[str | None]]]:
    """Per update: (its answers to the held-out items, per item the answer given with a context
    that was set aside for the answer without it, else None), generated in shared batches: all
    prompts for one model go through it together, each distinct prompt once. An item an update asks unchanged
    (the policy itself, the bare instruction, as icl-knn does below its floor) keeps the
    ``original`` answer: asking again could only differ by batch composition (padding moves fp32
    logits at the margin), which would score as a win or a loss that no data caused. Under icl-knn's
    ``min_answer_support`` an answer that draws too little of its wording from its context is
    replaced by the answer to the bare instruction (the original's where given, else asked then)."""
    from trainers.update import gives_way

    items = items_of(held_out)
    instructions = [it["instruction"] for it in items]
    prompts = [updated_prompts(ctx, held_out, u) for u in updates]
    known: dict[tuple[str, str], str] = {(ctx.policy, i): o for i, o in zip(instructions, original or [])}
    limits = [answer_tokens(ctx, it) for it in items]

    def ask(wanted: list[tuple[str, list[str]]]) -> None:
        for spec in dict.fromkeys(spec for spec, _ in wanted):
            limit: dict[str, int] = {}  # each prompt still to ask, with the longest limit of the items asking it
            for p, n in ((p, n) for s, ps in wanted if s == spec for p, n in zip(ps, limits) if (spec, p) not in known):
                limit[p] = max(limit.get(p, 0), n)
            if limit:
                todo = list(limit)
                known.update(zip([(spec, p) for p in todo], answer_each(ctx, spec, todo, [limit[p] for p in todo])))

    ask(prompts)
    fell_back = []
    for u, (spec, ps) in zip(updates, prompts):
        floor = (u.get("min_answer_support") or 0.0) if u["kind"] == "icl-knn" else 0.0
        fell_back.append([gives_way(i, p, known[(spec, p)], floor) for i, p in zip(instructions, ps)])
    ask([(spec, [i if f else p for i, p, f in zip(instructions, ps, fb)]) for (spec, ps), fb in zip(prompts, fell_back)])
    return [([known[(spec, i if f else p)] for i, p, f in zip(instructions, ps, fb)],
             [known[(spec, p)] if f else None for p, f in zip(ps, fb)]) for (spec, ps), fb in zip(prompts, fell_back)]


def compare_answers(ctx: Context, items: list[dict], new: list[str], original: list[str]):
    """``scoring.compare`` with the run's judge settings: updated (A) vs original (B) per item."""
    from scoring.compare import compare, is_verifiable

    verifiable_only = ctx.judge_mode == "verify" or (ctx.judge_mode == "auto" and all(map(is_verifiable, items)))
    return compare(items, new, original, mode=ctx.judge_mode,
                   judge=None if verifiable_only or ctx.reward_model else load_model(ctx, ctx.judge),
                   judge_system=ctx.prompt("JUDGE_PAIRWISE_SYSTEM"), judge_template=ctx.prompt("JUDGE_PAIRWISE_PROMPT"),
                   reward_model=ctx.reward_model, tie_margin=ctx.tie_margin, batch_size=ctx.batch_size,
                   judge_max_new_tokens=ctx.judge_max_new_tokens, judge_reading=ctx.judge_reading,
                   judge_quality=(ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER")),
                   judge_tie_margin=ctx.judge_tie_margin)


def measure(ctx: Context, held_out: list, updated: dict, *, original: list[str] | None = None) -> dict:
    """``{"summary", "records", "judge", "accuracy"}``: the update measured on the held-out items."""
    items = items_of(held_out)
    original = original if original is not None else original_answers(ctx, held_out)
    [(new, fell_back)] = asked(ctx, held_out, [updated], original=original)
    result = compare_answers(ctx, items, new, original)
    records = [{"instruction": it["instruction"], **({"answers": it["answers"]} if it.get("answers") else {}),
                "original": o, "updated": u, "winner": {"A": "updated", "B": "original"}.get(v.winner, v.winner),
                "by": by, "reason": v.reasoning, "passed": list(p) if p is not None else None,
                **({"unsupported": f} if f is not None else {})}
               for it, o, u, v, by, p, f in zip(items, original, new, result.verdicts, result.by, result.passed, fell_back)]
    cover = coverage(ctx, held_out, updated)
    if cover is not None and updated.get("min_answer_support"):
        cover["unsupported"] = sum(f is not None for f in fell_back)
    return {"summary": result.summary, "records": records, "judge": result.judge, "accuracy": result.accuracy,
            "coverage": cover}


def measure_many(ctx: Context, held_out: list, updates: list[dict], *, original: list[str]) -> list[dict]:
    """``measure`` for many updates of one task, with every updated policy's answers generated in
    shared batches: all prompts for one model go through it together, each distinct prompt once.
    Returns per update {"summary", "judge", "accuracy", "passed", "winners"}."""
    items = items_of(held_out)
    answers = updated_answers(ctx, held_out, updates, original=original)
    out = []
    for new in answers:
        result = compare_answers(ctx, items, new, original)
        out.append({"summary": result.summary, "judge": result.judge, "accuracy": result.accuracy,
                    "passed": result.passed, "winners": [v.winner for v in result.verdicts]})
    return out
