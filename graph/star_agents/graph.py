"""The star-agents graph: Star-Agents (Zhou et al., NeurIPS 2024) over a seed dataset.

start (check the seeds; p_jk uniform, or from star_probabilities)
  -> seed (one seed per step, so an interrupted run resumes after the last finished seed: the
           memory bank's nearest rows give up to l agent pairs, p_jk the rest of M; the base pairs
           and the sampled ones rewrite the seed and answer; each candidate scores dual-model IFD x
           the judge's verdict against the base pair's sample; the best is kept; p_jk of its pair
           += beta x score; a kept row scoring star_memory_min_score or more goes into the memory
           bank with its pair, score and tags)               graph/star_agents_seed.py, _pairs.py
  -> finish (dataset.jsonl in TRL's conversational format, candidates.jsonl, p_jk as CSV, PNG, JSON)
  -> train (with star_held_out: one LoRA SFT of the policy per step, on the curated rows, the seed
            rows, and one random candidate per seed)
  -> evaluate (the three adapters against the original policy on the held-out instructions,
               graph.harness.evaluate_updates: eval/eval_report.json / .md)
  -> report (report.json, report.md)                                 graph/star_agents/outputs.py

``graph`` is compiled without a checkpointer; ``graph.runs.RunStore`` adds SQLite.
"""

from __future__ import annotations

import json
import operator
import time
from pathlib import Path
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graph.context import Context
from graph.nodes import node
from graph.reducers import add_timings, merge
from records.errors import AdsError

STAGES = ("start", "finish", "evaluate", "report")
TRAINING_SETS = ("curated", "seed", "random")


class StarInput(TypedDict, total=False):
    seeds: list[dict]  # seed rows: instruction (+ input) and output / response (Alpaca or instruction/response)
    source: str  # where the seeds came from (a file name), for the report and the memory bank's origin


class StarOutput(TypedDict, total=False):
    report: dict


class StarState(StarInput, StarOutput, total=False):
    evaluate: bool  # star_held_out is set: train and evaluate after finish
    initial: dict  # p_jk before the first seed
    probabilities: dict  # p_jk now
    done: Annotated[list[dict], operator.add]  # one summary per finished seed (the record is in seeds/NNNNN.json)
    outputs: dict  # paths of the files finish wrote
    updates: Annotated[dict, merge]  # training set name -> trainers.update.update_policy result
    evaluation: dict
    timings: Annotated[dict, add_timings]


class SeedError(AdsError, ValueError):
    """A seed file the graph cannot use; the message names the item and what to fix."""


def check_seeds(rows: list, where: str = "seeds") -> list[dict]:
    """Every row must be an object with an instruction and a response (Alpaca's output counts)."""
    from records import has_pair

    if not rows:
        raise SeedError(f"{where}: no seed rows; give rows with instruction (+ input) and output or response")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not has_pair(row):
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise SeedError(f"{where}: item {i}: needs a non-empty instruction (or question) and output (or response); "
                            f"it has {keys}")
        if row.get("checks") is not None:
            from scoring.verify import validate_checks

            row["checks"] = validate_checks(row["checks"], where=f"{where}: item {i}")
    return rows


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    """One step per seed, one per training set, the fixed stages and a margin."""
    return len((inputs or {}).get("seeds") or []) + len(TRAINING_SETS) + len(STAGES) + 10


# ---- nodes ------------------------------------------------------------------------------

@node("start")
def start(state: StarState, ctx: Context) -> dict:
    """Check the seeds and set p_jk: uniform over the sampled pairs, or from star_probabilities."""
    from graph.agents import initial_probabilities, parse_agents, sampled_pairs

    check_seeds(state.get("seeds") or [], state.get("source") or "seeds")
    if ctx.star_held_out:  # a bad held-out file fails now, not after every seed and three trainings
        from graph.star_agents.outputs import held_out_items

        held_out_items(ctx.star_held_out, ctx.star_held_out_n)
    start_p = None
    if ctx.star_probabilities:
        loaded = json.loads(Path(ctx.star_probabilities).expanduser().read_text(encoding="utf-8"))
        start_p = loaded.get("probabilities", loaded) if isinstance(loaded, dict) else None
        if not isinstance(start_p, dict):
            raise ValueError(f"{ctx.star_probabilities}: expected {{pair: probability}} (a run's probabilities.json)")
    p = initial_probabilities(sampled_pairs(parse_agents(ctx.star_agents), ctx.star_base_pairs), start_p)
    Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
    return {"initial": p, "probabilities": p, "evaluate": bool(ctx.star_held_out)}


@node("seed")
def seed(state: StarState, ctx: Context) -> dict:
    """The next seed: sample pairs, write and score candidates, keep the best, move p_jk, grow the bank."""
    from graph.agents import parse_agents, update_probabilities
    from graph.star_agents.outputs import seed_path
    from graph.star_agents.seed import remember, run_seed
    from records import write_json

    index = len(state.get("done") or [])
    probs = state["probabilities"]
    record = run_seed(ctx, index, state["seeds"][index], probs, parse_agents(ctx.star_agents))
    kept = record["candidates"][record["kept"]] if record["kept"] is not None else None
    if kept is not None and kept["source"] != "base":
        probs = update_probabilities(probs, kept["pair"], kept["score"], ctx.star_beta)
    record["probabilities"] = probs
    record["memory_added"] = remember(ctx, record, state.get("source") or "seeds")
    write_json(seed_path(ctx.run_dir, index), record)
    return {"probabilities": probs, "done": [{
        "index": index, "kept_pair": kept["pair"] if kept else None, "score": kept["score"] if kept else None,
        "improved": bool(kept and kept["source"] != "base"), "score_kind": record["score_kind"],
        "sampled": [p for p, _ in record["sampled"]], "candidates": len(record["candidates"]),
        "unparsable": sum(c["status"] == "unparsable" for c in record["candidates"]),
        "failed_checks": sum(c["status"] == "failed checks" for c in record["candidates"]),
        "memory_added": record["memory_added"]}]}


@node("finish")
def finish(state: StarState, ctx: Context) -> dict:
    """dataset.jsonl (TRL conversational, with scores, pair and seed), candidates.jsonl, p_jk files."""
    from graph.star_agents.outputs import records, write_outputs

    return {"outputs": write_outputs(ctx.run_dir, records(ctx.run_dir, state["done"]), state["initial"],
                                     state["probabilities"])}


@node("train")
def train(state: StarState, ctx: Context) -> dict:
    """LoRA SFT of the policy on the next training set (curated, seed, random): one adapter per step."""
    from graph.star_agents.outputs import records, training_sets
    from trainers.update import update_policy

    name = next(n for n in TRAINING_SETS if n not in (state.get("updates") or {}))
    rows = training_sets(records(ctx.run_dir, state["done"]))[name]
    updated = update_policy("sft", rows, policy=ctx.policy, out_dir=Path(ctx.run_dir) / "sft" / name, recipe=ctx.sft_recipe)
    return {"updates": {name: updated}}


@node("evaluate")
def evaluate(state: StarState, ctx: Context) -> dict:
    """The adapters against the original policy on the held-out instructions (the evaluation harness)."""
    from graph.harness import evaluate_updates
    from graph.star_agents.outputs import held_out_items

    task = {"task": Path(ctx.star_held_out).stem, "observed": [],
            "held_out": held_out_items(ctx.star_held_out, ctx.star_held_out_n)}
    updates = {n: state["updates"][n] for n in TRAINING_SETS}
    rep = evaluate_updates(ctx, [task], updates, Path(ctx.run_dir) / "eval")
    return {"evaluation": {"held_out": len(task["held_out"]), "rows": {n: u.get("rows_used", 0) for n, u in updates.items()},
                           "methods": rep["methods"], "report": str(Path(ctx.run_dir) / "eval" / "eval_report.md")}}


@node("report")
def report(state: StarState, ctx: Context) -> dict:
    """report.json and report.md: counts, p_jk at the start and the end, settings, timings, evaluation."""
    from collections import Counter

    from graph.star_agents.outputs import counts, markdown, records
    from records import write_report

    recs = records(ctx.run_dir, state["done"])
    settings = {k: v for k, v in ctx.to_dict().items() if k.startswith("star_") or k in ("policy", "judge", "seed",
                                                                                        "judge_reading", "memory_path")}
    rep = {"graph": "star-agents", "run_dir": str(Path(ctx.run_dir).resolve()), "source": state.get("source") or "seeds",
           "counts": counts(recs), "score_kinds": dict(Counter(r["score_kind"] for r in recs)),
           "probabilities": {"start": state["initial"], "end": state["probabilities"]},
           "outputs": state.get("outputs") or {}, "evaluation": state.get("evaluation"), "settings": settings,
           "timings": {k: round(v, 2) for k, v in (state.get("timings") or {}).items()}, "finished": time.time()}
    write_report(ctx.run_dir, "report", rep, markdown(rep))
    return {"report": rep}


# ---- routers ----------------------------------------------------------------------------

def after_seed(state: StarState) -> str:
    return "seed" if len(state.get("done") or []) < len(state["seeds"]) else "finish"


def after_finish(state: StarState) -> str:
    return "train" if state.get("evaluate") else "report"


def after_train(state: StarState) -> str:
    return "train" if len(state.get("updates") or {}) < len(TRAINING_SETS) else "evaluate"


# ---- wiring -----------------------------------------------------------------------------

builder = StateGraph(StarState, context_schema=Context, input_schema=StarInput, output_schema=StarOutput)
builder.add_node("start", start)
builder.add_node("seed", seed)
builder.add_node("finish", finish)
builder.add_node("train", train)
builder.add_node("evaluate", evaluate)
builder.add_node("report", report)
builder.add_edge(START, "start")
builder.add_edge("start", "seed")
builder.add_conditional_edges("seed", after_seed, ["seed", "finish"])
builder.add_conditional_edges("finish", after_finish, ["train", "report"])
builder.add_conditional_edges("train", after_train, ["train", "evaluate"])
builder.add_edge("evaluate", "report")
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "star-agents"
