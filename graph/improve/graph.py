"""The improve graph: Active Data Search on one target task, in one or more rounds.

[competence (rounds > 1: the policy's current answers to the observed instructions)] ->
analyse (optimizer plans API calls) -> parse (lenient, bounded retries, budget) -> tools (one
call per step, so every finished call is checkpointed; optional interrupt before each) ->
judge -> ifd -> curate (all rounds' rows together) -> update (icl | icl-knn | sft) -> gate (a task
with checks: the update is kept only if it passes more of the run's own new instructions) ->
[round (rounds > 1: measured on a validation third of the held-out items; next round, or stop
when a round brings no gain or the budget is spent)] -> evaluate (held-out, original vs
updated) -> report.

The gathering nodes live in graph/gather.py. ``graph`` is compiled without a checkpointer: the
CLI adds SQLite, tests add memory, a host app embeds it as a subgraph (its checkpointer is inherited).
"""

from __future__ import annotations

import random
from pathlib import Path

from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.improve.gather import analyse, ifd, judge, parse, run_tools, scored_rows, sft_recipe, task_checks, update_kind
from graph.improve.state import InputState, OutputState, State, cost_of
from graph.nodes import context_of, load_model, node
from graph.optimizer import items_carry_answers, task_kind

STAGES = ("analyse", "parse", "tools", "judge", "ifd", "curate", "update", "gate", "evaluate", "report")


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    """Graph steps a run can take: per round the optimizer's attempts, one step per call and the
    fixed stages; then the final stages and a margin. A run that needs more is looping."""
    per_round = 2 * (ctx.parse_retries + 1) + ctx.max_calls + len(STAGES) + 2
    return ctx.rounds * per_round + 10


def split_held_out(n: int, ctx: Context) -> tuple[list[int], list[int]]:
    """(validation, test) item indices: with rounds > 1 a seeded third of the held-out items (at
    least one) decides when to stop, and the final figures come from the rest; one round uses all."""
    if ctx.rounds <= 1 or n < 2:
        return [], list(range(n))
    order = list(range(n))
    random.Random(f"held-out:{ctx.seed}").shuffle(order)
    k = max(1, n // 3)
    return sorted(order[:k]), sorted(order[k:])


def pick(items: list, indices: list[int]) -> list:
    return [items[i] for i in indices]


# ---- nodes ------------------------------------------------------------------------------

@node("competence")
def competence(state: State, ctx: Context) -> dict:
    """The current policy's answers to the observed instructions (shown to this round's optimizer)."""
    from graph.heldout import answer, updated_answers

    observed = [{"instruction": o} for o in state["observed"]]
    if state.get("updated"):  # asked as the held-out items are (an unsupported answer falls back to the bare one)
        [answers] = updated_answers(ctx, observed, [state["updated"]], original=None)
    else:
        answers = answer(ctx, ctx.policy, state["observed"])
    return {"competence": [{"instruction": o, "answer": a} for o, a in zip(state["observed"], answers)]}


@node("curate")
def curate(state: State, ctx: Context) -> dict:
    """The curation pipeline (graph/curate.py) over the scored rows; writes dataset.jsonl."""
    from graph.improve.curate import curate as run_pipeline
    from graph.improve.curate import needed_scores, relevance_scores
    from records import write_jsonl

    rows = scored_rows(state)
    if "relevance" in needed_scores(ctx.curation):
        from llms.embeddings import load_embedder

        for row, r in zip(rows, relevance_scores(rows, state["observed"], load_embedder(ctx.embedder).encode)):
            row["relevance"] = r
    if "verify" in ctx.curation and task_kind(state) == "checks":  # every pair must pass the task's checks
        checks = task_checks(state)
        rows = [{**r, "checks": r.get("checks") or checks} if r.get("type") != "document" and checks else r for r in rows]
    cctx = ctx
    if "grounded" in ctx.curation and ctx.grounding == "auto":  # facts are checked where items carry answers
        cctx = ctx.variant(grounding="on" if items_carry_answers(state.get("held_out") or []) else "off")
    dataset, dropped, log = run_pipeline(rows, cctx)
    if ctx.memory_min_score is not None:  # high scorers go into the bank: memory_search returns them to later runs
        from memory import MemoryBank

        good = [r for r in dataset if r.get("type") != "document" and r.get("instruction") and r.get("response")
                and r.get("score") is not None and r["score"] >= ctx.memory_min_score]
        if good:
            MemoryBank(ctx.memory_path, ctx.embedder).add(
                [{**r, "source": f"improve:{state.get('task') or 'task'}", "tags": ["improve", r.get("type") or "pair"]}
                 for r in good])
        for r in good:
            r["memory_bank"] = True
    write_jsonl(Path(ctx.run_dir) / "dataset.jsonl", dataset)
    return {"dataset": dataset, "dropped_rows": dropped, "curation": log}


def agreement_checks(ctx: Context, held_out: list) -> dict:
    """icl-knn's agreement checks (a row, and the packed context, must name the question's terms;
    an answer given with a context must draw on it) where the held-out items carry answers: they
    were chosen on knowledge tasks, where a passage on a neighbouring subject costs answers; a
    demonstration of a format or a style is chosen by similarity alone."""
    on = items_carry_answers(held_out)
    return {"min_overlap": ctx.knn_min_overlap if on else 0.0, "min_context_overlap": ctx.knn_context_overlap if on else 0.0,
            "min_answer_support": ctx.knn_answer_support if on else 0.0}


@node("update")
def update(state: State, ctx: Context) -> dict:
    """The updated policy: curated data packed into its context (icl) or a LoRA adapter (sft)."""
    from trainers.update import update_policy

    dataset = state.get("dataset") or []
    kind = update_kind(ctx, state)
    r = state.get("round", 0)
    base, out_dir = ctx.policy, Path(ctx.run_dir) / "sft"
    if ctx.rounds > 1:
        out_dir = out_dir / f"round{r}"
        if kind == "sft" and ctx.round_sft == "continue" and r > 0 and state.get("updated"):
            # the adapter of the round before trains further, on this round's new rows only
            base = state["updated"]["policy"]
            new_calls = {c["index"] for c in state.get("calls") or [] if c.get("round", 0) == r}
            dataset = [row for row in dataset if row.get("call") in new_calls]
    policy = load_model(ctx, ctx.policy) if kind == "icl" else None
    updated = update_policy(kind, dataset, policy=base,
                            count_tokens=policy.count_tokens if policy else None,
                            icl_token_budget=ctx.icl_token_budget, document_template=ctx.prompt("ICL_DOCUMENT"),
                            example_template=ctx.prompt("ICL_EXAMPLE"), out_dir=out_dir,
                            recipe=sft_recipe(ctx, state), min_similarity=ctx.knn_min_similarity,
                            max_rows=ctx.knn_rows, min_rows=ctx.sft_min_rows,
                            **agreement_checks(ctx, state.get("held_out") or []))
    few = "rows_available" in updated
    if kind == "sft" and (not dataset or few) and r > 0 and state.get("updated"):
        why = f"{len(dataset)} new rows this round, fewer than sft_min_rows={ctx.sft_min_rows}" if few else "no new rows this round"
        updated = {**state["updated"], "note": f"{why}: the adapter of the round before is kept"}
    return {"updated": updated}


@node("gate")
def gate(state: State, ctx: Context) -> dict:
    """On a task with checks, the update measured on instructions the run writes in the observed
    ones' style (never bought or trained on): kept if it passes more of them (Context.gate), else
    set aside for the policy the run started from (graph/improve/gate.py)."""
    from graph.improve.gate import gate_update

    updated, record = gate_update(ctx, state, state["updated"])
    return {"updated": updated, "gate": record}


@node("round")
def round_check(state: State, ctx: Context) -> dict:
    """This round measured on the validation items; the next round, or stop: no gain over the
    round before (the update then goes back to that round's), the budget spent, or the last round."""
    from graph.heldout import items_of, measure

    r = state.get("round", 0)
    items = items_of(state.get("held_out") or [])
    val, _ = split_held_out(len(items), ctx)
    val_items = pick(items, val)
    original = state.get("validation_original")
    out: dict = {}
    if original is None:
        from graph.heldout import original_answers

        original = pick(state["original_answers"], val) if state.get("original_answers") else original_answers(ctx, val_items)
        out["validation_original"] = original
    m = measure(ctx, val_items, state["updated"], original=original)
    acc = m["accuracy"]
    score = (acc["updated"] if acc else (m["summary"]["adjusted_win_rate"] or 0.5))
    baseline = (acc["original"] if acc else 0.5)
    history = state.get("rounds") or []
    before = history[-1]["validation_score"] if history else baseline
    calls = [c for c in state.get("calls") or [] if c.get("round", 0) == r]
    results = [x for x in state.get("results") or [] if x["index"] in {c["index"] for c in calls}]
    spent = cost_of(state.get("results"))
    row = {"round": r, "calls": [f"{c['name']}({c['arg']!r})" for c in calls],
           "cost": round(cost_of(results), 3), "cost_total": round(spent, 3),
           "rows_bought": sum(len(x.get("rows") or []) for x in results if x.get("status") == "ok"),
           "dataset_size": len(state.get("dataset") or []), "validation_items": len(val_items),
           "validation_score": score, "validation_baseline": baseline, "gain": score - before,
           "metric": "verified accuracy" if acc else "adjusted win rate"}
    stop = None
    if r + 1 >= ctx.rounds:
        stop = "last round"
    elif score <= before and ctx.stop_without_gain:
        stop = "no gain on the validation items"
    elif ctx.max_total_cost is not None and spent >= ctx.max_total_cost - 1e-9:
        stop = "total budget spent"
    row["stop"] = stop
    out["rounds"] = [row]
    if stop:
        if score <= before and history and ctx.stop_without_gain:  # no better: keep the update before it
            out["updated"] = history[-1]["updated"]
            row["kept_round"] = history[-1]["round"]
    else:
        out["round"] = r + 1
    row["updated"] = {k: v for k, v in state["updated"].items() if k != "rows"}
    return out


@node("evaluate")
def evaluate(state: State, ctx: Context) -> dict:
    """Original vs updated policy on the held-out instructions: verifier if possible, else judge."""
    from graph.heldout import measure

    if not ctx.measure:
        return {"evaluation": {"skipped": "measure=false: the caller measures the update itself"}}
    held = state.get("held_out") or []
    val, test = split_held_out(len(held), ctx)
    original = state.get("original_answers")
    evaluation = measure(ctx, pick(held, test), state["updated"], original=pick(original, test) if original else None)
    if val:  # which items decided when to stop; the figures above come from the others only
        from graph.heldout import items_of

        evaluation["validation_items"] = [it["instruction"] for it in items_of(pick(held, val))]
    return {"evaluation": evaluation}


@node("report")
def report(state: State, ctx: Context) -> dict:
    """report.json, report.md and trajectory.json in the run directory."""
    from graph.improve.report import build_report, write_run

    rep = build_report(state, ctx, state.get("timings") or {})
    write_run(state, rep, Path(ctx.run_dir))
    return {"report": rep}


# ---- routers ----------------------------------------------------------------------------

def start(state: State, runtime) -> str:
    rounds = context_of(runtime).rounds
    return "competence" if rounds > 1 and state.get("plan") is None else "analyse"


def after_parse(state: State) -> str | list[str]:
    if state["parse_log"][-1]["retry"]:
        return "analyse"
    return "tools" if len(state.get("results") or []) < len(state.get("calls") or []) else "judge"


def after_tools(state: State) -> str | list[str]:
    if len(state.get("results") or []) < len(state["calls"]):
        return "tools"
    return "judge"


def after_update(state: State, runtime) -> str:
    return "round" if context_of(runtime).rounds > 1 else "evaluate"


def after_round(state: State) -> str:
    return "evaluate" if state["rounds"][-1]["stop"] else "competence"


# ---- wiring -----------------------------------------------------------------------------

builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
builder.add_node("competence", competence)
builder.add_node("analyse", analyse)
builder.add_node("parse", parse)
builder.add_node("tools", run_tools)
builder.add_node("judge", judge)
builder.add_node("ifd", ifd)
builder.add_node("curate", curate)
builder.add_node("update", update)
builder.add_node("gate", gate)
builder.add_node("round", round_check)
builder.add_node("evaluate", evaluate)
builder.add_node("report", report)
builder.add_conditional_edges(START, start, ["competence", "analyse"])
builder.add_edge("competence", "analyse")
builder.add_edge("analyse", "parse")
builder.add_conditional_edges("parse", after_parse, ["analyse", "tools", "judge"])
builder.add_conditional_edges("tools", after_tools, ["tools", "judge"])
# judge and IFD run one after the other: both usually drive the same local model, whose
# tokenizer is not safe to share between threads
builder.add_edge("judge", "ifd")
builder.add_edge("ifd", "curate")
builder.add_edge("curate", "update")
builder.add_edge("update", "gate")
builder.add_conditional_edges("gate", after_update, ["round", "evaluate"])
builder.add_conditional_edges("round", after_round, ["competence", "evaluate"])
builder.add_edge("evaluate", "report")
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "improve"
