"""improve's gate on a task with checks: the update is kept only where it helps on instructions the
run wrote itself, never on a held-out one.

A LoRA update on tens of verified rows mostly teaches the form a task's checks ask for, and now and
then moves the answers to a check it holds no edit for both ways (IFEval test split, 3 seeds: +22.9
points over 15 tasks, yet letter frequency lost 2 items and gained 1, placeholders lost 3 and
gained 3). A program can tell before the held-out items are asked: after the update the optimizer
writes ``Context.gate_items`` new instructions in the style of the observed ones (as it anticipates,
with another seed, kept clear of every instruction the run bought or trained on), each takes the
checks of its nearest observed instruction, and the policy before and after the update answers
them as held-out items are answered (greedy, ``checks_max_new_tokens``), scored by the checks.
``gate=gain`` keeps the update only if it passes more of them, ``strict`` only if it passes more
and fails none that the policy before it passed, ``no-loss`` only if it passes no fewer, ``off``
always. Each instruction carries its observed instruction's checks as they are
(``gate_checks=observed``), or with the parameters redrawn (``redrawn``: other keywords, letters,
counts), since the update's rows were verified on the observed ones, and a gate that asks them again
measures what the rows taught for those parameters (IFEval test, seed 0, keywords existence: gate 0 ->
4 of 8, kept, held-out 0 gained / 1 lost), not the constraint. An update set aside leaves the
policy the run started from: its held-out answers are the original's, so the run reports no change
rather than a loss.
"""

from __future__ import annotations

from graph.context import Context
from graph.improve.gather import anticipate, attach_checks, task_checks
from graph.improve.state import State
from graph.optimizer import ANTICIPATION_PROMPTS

GATE_SEED = 7919  # the gate's instructions are written with seed + this: others than the anticipated ones


def not_gated(ctx: Context, state: State, updated: dict) -> str | None:
    """Why the gate does not apply to this run's update, or None where it does."""
    if ctx.gate == "off":
        return "gate=off"
    if not task_checks(state):
        return "the task carries no checks to write the gate's instructions with"
    if not updated.get("rows_used"):
        return "the update changed nothing"
    return None


def bought_instructions(state: State) -> list[str]:
    """Every instruction the run anticipated, bought or trained on: the gate's may not be near one."""
    anticipated = state.get("anticipated") or {}
    texts = list(anticipated.get("written") or []) + list(anticipated.get("questions") or [])
    texts += [str(r["instruction"]) for r in state.get("dataset") or [] if r.get("instruction")]
    return list(dict.fromkeys(texts))


def gate_items(ctx: Context, state: State) -> tuple[list[dict], dict]:
    """(the gate's instructions as held-out-shaped items {"instruction", "checks"}, what anticipate
    wrote and dropped). The optimizer sees the observed instructions only."""
    prompt, max_words = ANTICIPATION_PROMPTS["checks"]
    found = anticipate(ctx, list(state["observed"]), prompt, max_words, n=ctx.gate_items, seed=ctx.seed + GATE_SEED,
                       exclude=bought_instructions(state))
    observed, shared = state.get("observed_checks") or {}, list(state.get("checks") or [])
    if ctx.gate_checks == "observed":
        return [{"instruction": q, "checks": c} for q, c in attach_checks(found["questions"], observed, shared).items()], found
    items = {}
    for k, q in enumerate(found["questions"]):
        for checks in attach_checks([q], observed, shared).values():
            asked, fresh = redrawn(q, checks, shared, seed=ctx.seed + GATE_SEED + k)
            items.setdefault(asked, fresh)
    return [{"instruction": q, "checks": c} for q, c in items.items()], found


def redrawn(question: str, checks: list[dict], shared: list[dict], *, seed: int) -> tuple[str, list[dict]]:
    """(the gate instruction as asked, its checks) with the observed instruction's check parameters
    drawn afresh (``gate_checks=redrawn``): the sentences of the old ones that the optimizer copied
    into its instruction are taken out, the new ones stated after it; the task's own checks stay."""
    from scoring.verify import describe_checks, redraw_checks, with_checks

    fresh = redraw_checks(checks, seed=seed, keep=shared)
    text = question
    for old in set(describe_checks(checks)) - set(describe_checks(fresh)):
        if old in text:
            text = " ".join(text.replace(old, " ").split())
    return with_checks(text, [c for c in fresh if c not in shared]), fresh


def keeps(gate: str, updated_passed: int, original_passed: int, lost: int) -> bool:
    """Whether ``gate`` keeps an update that passed ``updated_passed`` of the gate's instructions where
    the policy before it passed ``original_passed``, failing ``lost`` of those the policy passed."""
    if gate == "strict":
        return updated_passed > original_passed and lost == 0
    return updated_passed > original_passed if gate == "gain" else updated_passed >= original_passed


def set_aside(ctx: Context, updated: dict, record: dict) -> dict:
    """The policy the run started from, in the update's shape (no rows, no context, no adapter), with
    the update it replaces and the gate's record."""
    kept = {k: v for k, v in updated.items() if k not in ("rows", "context")}
    return {"kind": updated["kind"], "policy": ctx.policy, "rows_used": 0, "rows": [], "context": "",
            "set_aside": kept, "gate": record,
            "note": f"the gate set the update aside: it passed {record['updated_passed']} of {record['items']} gate "
                    f"instructions, the policy before it {record['original_passed']} (gate={ctx.gate})"}


def gate_update(ctx: Context, state: State, updated: dict) -> tuple[dict, dict]:
    """(the update to keep, the gate's record): see the module docstring."""
    from graph.heldout import measure

    why = not_gated(ctx, state, updated)
    if why:
        return updated, {"setting": ctx.gate, "applied": False, "reason": why}
    items, found = gate_items(ctx, state)
    record = {"setting": ctx.gate, "applied": True, "items": len(items), "written": found.get("generated", 0),
              "dropped": found.get("dropped") or []}
    if not items:
        record.update(kept=True, reason="the optimizer wrote no usable gate instruction: the update is kept")
        return {**updated, "gate": record}, record
    m = measure(ctx, items, updated)
    acc = m["accuracy"]  # every gate item carries checks: all are verified
    up, orig = round(acc["updated"] * acc["n"]), round(acc["original"] * acc["n"])
    keep = keeps(ctx.gate, up, orig, acc["lost"])
    passed = [r.get("passed") or (False, False) for r in m["records"]]
    record.update(original_passed=orig, updated_passed=up, gained=acc["gained"], lost=acc["lost"], kept=keep,
                  reason=f"{up} of {len(items)} passed after the update, {orig} before: "
                         + ("kept" if keep else "set aside") + f" (gate={ctx.gate})",
                  instructions=[{"instruction": it["instruction"], "checks": [c["id"] for c in it["checks"]],
                                 "kwargs": [c.get("kwargs") or {} for c in it["checks"]],
                                 "original": r["original"], "updated": r["updated"],
                                 "original_passed": bool(b), "updated_passed": bool(a)}
                                for it, r, (a, b) in zip(items, m["records"], passed)])
    return ({**updated, "gate": record} if keep else set_aside(ctx, updated, record)), record
