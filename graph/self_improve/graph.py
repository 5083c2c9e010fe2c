"""The self-improve graph (I-SHEEP): a model aligns itself from a few seed tasks, round after round.

Every stage of every iteration is its own graph step, so an interrupted run resumes at the last
finished stage of the last iteration and never runs a finished one again:

generate  the current model writes new tasks (instruction + optional input) in context from a
          sample of the seed pool (tools.self_instruct, SELF_INSTRUCT_PROMPT)
filter    Self-Instruct's heuristics: length, banned words, punctuation / non-English start, leaked
          prompt markers, ROUGE-L > isheep_max_rouge against the seeds and every earlier task;
          then, on a run with checks, each task gets its constraints (below)
respond   the current model answers each task zero-shot; empty answers are dropped. A task with
          checks is answered verify_samples times (demonstration_temperature) and keeps up to
          isheep_verify_keep distinct answers that pass every check, each a row (rejection sampling,
          as ReST-EM: the verifier decides first, the self-assessment second); a task no sample
          passes is dropped with the failing checks
assess    the current model rates each pair 1-10 for quality and following (scoring.assess; by
          log-probs where the backend gives them)
select    both ratings >= assess_threshold; then perplexity <= max_perplexity (isheep_perplexity)
          and a k-means density sample (isheep_density)
train     LoRA SFT (trainers.update) under isheep_setting: one_base (the base on this
          iteration's data), one_last (the current model further), total_base (the base on all so far)
evaluate  the new model against the base policy on the held-out instructions, through the
          evaluation harness (graph.evaluate.graph.evaluate_updates: verifiers where items carry
          answers/checks, else the pairwise judge in both orders)
-> generate (next iteration, with the model just trained) | report (graph/self_improve_report.py)

Checks (a task file's, ``cli.py self-improve --task``): ``checks`` apply to every instruction
(the task's own, which its instructions need not state); ``check_sets`` are constraints written
into new instructions: each new task gets one set, appended in IFEval's own words
(``scoring.verify.describe_checks``) and attached as its checks; the sets are dealt in turn from a
seeded shuffle, so an iteration's tasks spread evenly over them. The sets come from the task's
observed instructions, never from its held-out ones.

Every iteration keeps its files in ``<run_dir>/iter<N>/``: candidates.jsonl, pairs.jsonl (rated),
dataset.jsonl (trained on), dropped_<stage>.jsonl (each with its reason), sft/adapter, eval/.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from graph.context import Context
from graph.nodes import context_of, load_model, node
from graph.reducers import add_timings

STAGES = ("generate", "filter", "respond", "assess", "select", "train", "evaluate")


class SelfImproveInput(TypedDict, total=False):
    """What a host passes in."""

    name: str  # a name for the run's reports (e.g. the seed file's stem)
    seeds: list[dict]  # the seed pool: {"instruction", "input"?, "output"?, "id"?} (tools.self_instruct.as_task)
    held_out: list  # held-out instructions (str) or {"instruction", "answers"?, "checks"?}
    checks: list[dict]  # checks every answer must pass (a task's own); see the module docstring
    check_sets: list[list[dict]]  # constraints to write into new instructions (from observed ones)


class SelfImproveOutput(TypedDict, total=False):
    report: dict  # graph.self_improve.report.build


class SelfImproveState(SelfImproveInput, SelfImproveOutput, total=False):
    iteration: int  # the iteration in progress, from 1
    model: str  # its current model (it generates, answers and rates): the base, then the last trained
    rows: list[dict]  # this iteration's rows as the last finished stage left them
    instructions: list[str]  # this iteration's tasks that passed the heuristics (the pool grows by them)
    updated: dict  # this iteration's trained policy (trainers.update.update_policy)
    log: Annotated[list[dict], operator.add]  # per stage and filter: {iteration, stage, step, in, kept, dropped, examples}
    iterations: Annotated[list[dict], operator.add]  # one record per finished iteration
    timings: Annotated[dict, add_timings]  # seconds per stage, summed over iterations


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    """One step per stage of every iteration, the report, and a margin."""
    return len(STAGES) * ctx.isheep_iterations + 10


def iter_dir(ctx: Context, iteration: int) -> Path:
    return Path(ctx.run_dir) / f"iter{iteration}"


def _entry(iteration: int, stage: str, step: str, n_in: int, kept: int, dropped=(), **extra) -> dict:
    return {"iteration": iteration, "stage": stage, "step": step, "in": n_in, "kept": kept, "dropped": n_in - kept,
            "examples": [{"instruction": str(r.get("instruction") or "")[:160], "reason": why} for r, why in list(dropped)[:3]],
            **extra}


def _record_drops(ctx: Context, iteration: int, stage: str, dropped) -> None:
    """The stage's dropped rows with their reasons, in iter<N>/dropped_<stage>.jsonl (rewritten
    whole, so a stage run again after an interruption leaves no duplicates)."""
    from records import write_jsonl

    write_jsonl(iter_dir(ctx, iteration) / f"dropped_{stage}.jsonl",
                [{"stage": stage, "reason": why, **{k: row.get(k) for k in ("instruction", "input", "response")}}
                 for row, why in dropped])


# ---- nodes ------------------------------------------------------------------------------

@node("generate")
def generate(state: SelfImproveState, ctx: Context) -> dict:
    """The current model writes isheep_data_size new tasks from samples of the seed pool."""
    from records import write_jsonl
    from tools.self_instruct import generate_instructions

    done = state.get("iterations") or []
    i = len(done) + 1
    model = done[-1]["model"] if done else ctx.policy
    rows = generate_instructions(load_model(ctx, model), state["seeds"], n=ctx.isheep_data_size,
                                 prompt=ctx.prompt("SELF_INSTRUCT_PROMPT"), examples_per_prompt=ctx.isheep_examples,
                                 temperature=ctx.isheep_temperature, seed=ctx.seed * 1000 + i,
                                 batch_size=ctx.batch_size, max_new_tokens=ctx.max_new_tokens)
    write_jsonl(iter_dir(ctx, i) / "candidates.jsonl", rows)
    return {"iteration": i, "model": model, "rows": rows, "updated": None,
            "log": [_entry(i, "generate", "tasks parsed from the replies", ctx.isheep_data_size, len(rows))]}


@node("filter")
def filter_tasks(state: SelfImproveState, ctx: Context) -> dict:
    """Self-Instruct's heuristic filters; near-duplicates against the seeds and all earlier tasks."""
    from tools.self_instruct import heuristic_filters

    i = state["iteration"]
    pool = [s["instruction"] for s in state["seeds"]] + [t for r in state.get("iterations") or [] for t in r["instructions"]]
    kept, dropped, log = heuristic_filters(state["rows"], pool, max_rouge=ctx.isheep_max_rouge)
    _record_drops(ctx, i, "filter", dropped)
    instructions = [r["instruction"] for r in kept]  # the pool grows by the tasks as written
    log = [{"iteration": i, "stage": "filter", **e} for e in log]
    if state.get("checks") or state.get("check_sets"):
        kept, used = constrain(kept, state.get("check_sets") or [], state.get("checks") or [], seed=ctx.seed * 1000 + i)
        log.append(_entry(i, "filter", f"constraints attached ({used} usable check sets)", len(kept), len(kept)))
    return {"rows": kept, "instructions": instructions, "log": log}


def usable_check_sets(check_sets: list[list[dict]]) -> list[tuple[list[dict], str]]:
    """(checks, their sentence) for each set IFEval can state in words without a prompt of its own
    (a check such as repeat_prompt needs the original prompt: such sets are left out)."""
    from scoring.verify import state_checks

    out, seen = [], set()
    for checks in check_sets:
        words = state_checks(checks)
        if words is None or repr(checks) in seen:
            continue
        seen.add(repr(checks))
        out.append((list(checks), words))
    return out


def constrain(rows: list[dict], check_sets: list[list[dict]], shared: list[dict], *, seed: int) -> tuple[list[dict], int]:
    """Each row with one of the usable ``check_sets`` written into its instruction and attached, plus
    the ``shared`` checks; (rows, number of usable sets). The sets are dealt in turn, each round in a
    seeded shuffle: every set goes to as many rows as another, give or take one (a seeded choice per
    row left some sets with none and others with six, and the iteration's gain followed which)."""
    import random

    usable, rng = usable_check_sets(check_sets), random.Random(seed)
    if check_sets and not usable and not shared:
        raise ValueError("none of the observed instructions' checks can be written into a new instruction "
                         "(each needs its own prompt, e.g. repeat_prompt): give the task checks of its own")
    out, deck = [], []
    for row in rows:
        if usable and not deck:
            deck = rng.sample(usable, len(usable))
        checks, words = deck.pop() if usable else ([], "")
        text = f"{row['instruction'].rstrip()} {words}" if words else row["instruction"]
        out.append({**row, "instruction": text, "checks": checks + [c for c in shared if c not in checks]})
    return out, len(usable)


@node("respond")
def respond(state: SelfImproveState, ctx: Context) -> dict:
    """The current model answers every task zero-shot; pairs with an empty answer are dropped. A task
    with checks becomes one row per verified answer kept (verified_answers)."""
    from records import instruction_of
    from tools.self_instruct import filter_empty_outputs

    i, rows = state["iteration"], state["rows"]
    llm = load_model(ctx, state["model"])
    free = [r for r in rows if not r.get("checks")]
    answers = dict(zip(map(id, free), ([a] for a in llm.complete(
        [instruction_of(r) for r in free], max_new_tokens=ctx.max_new_tokens, temperature=ctx.temperature,
        seed=ctx.seed, batch_size=ctx.batch_size)))) if free else {}
    verified, failed, log = verified_answers(ctx, llm, [r for r in rows if r.get("checks")], i)
    answers.update(verified)

    def pair(r, a):
        extra = {"checks": r["checks"]} if r.get("checks") else {}
        return {"type": "demonstration", "source": "self-instruct", "instruction": r["instruction"], "input": r.get("input", ""),
                "response": a.strip(), **extra, "provenance": {**{k: v for k, v in r["provenance"].items() if k != "raw"},
                                                               "answered_by": state["model"], **({"verified": True} if extra else {})}}

    pairs = [pair(r, a) for r in rows for a in answers.get(id(r), [])]
    kept, dropped = filter_empty_outputs(pairs)
    dropped = failed + list(dropped)
    _record_drops(ctx, i, "respond", dropped)
    return {"rows": kept, "log": log + [_entry(i, "respond", "non-empty answer", len(pairs), len(kept), dropped)]}


def verified_answers(ctx: Context, llm, rows: list[dict], iteration: int) -> tuple[dict, list, list]:
    """Rejection sampling for the rows that carry checks: ``verify_samples`` answers each
    (``demonstration_temperature``); up to ``isheep_verify_keep`` distinct answers that pass every
    check are kept, in sample order (0: all). ({id(row): [answer, ...]}, [(row, why)] for rows no
    sample passed, log entries with the pass rate by check)."""
    from llms.base import SamplingParams
    from records import instruction_of
    from scoring.rejection import Sampled

    if not rows:
        return {}, [], []
    params = SamplingParams(max_new_tokens=ctx.checks_max_new_tokens, temperature=ctx.demonstration_temperature,
                            n=ctx.verify_samples, seed=ctx.seed * 1000 + iteration)
    samples = llm.generate([instruction_of(r) for r in rows], params, batch_size=ctx.batch_size)
    answers, failed, by_check, passed, edited = {}, [], {}, 0, 0
    for row, gens in zip(rows, samples):
        verdicts = Sampled(row["checks"], [g.text for g in gens], prompt=instruction_of(row), edit=ctx.check_edits)
        passed += len(verdicts.passing) - len(verdicts.edited)
        edited += len(verdicts.edited)
        for c in row["checks"]:
            hit = by_check.setdefault(c["id"], [0, 0])
            hit[0] += sum(c["id"] not in bad for bad in verdicts.failed)
            hit[1] += len(gens)
        kept = verdicts.distinct(ctx.isheep_verify_keep)
        if kept:
            answers[id(row)] = [verdicts.answers[j] for j in kept]
        else:
            failed.append((row, "verify: " + verdicts.why()))
    total = sum(len(g) for g in samples)
    keep = f"; up to {ctx.isheep_verify_keep} kept" if ctx.isheep_verify_keep else "; every distinct one kept"
    entry = _entry(iteration, "respond", f"verified: a sample of {ctx.verify_samples} passes every check{keep}", len(rows),
                   len(answers), failed, answers_kept=sum(map(len, answers.values())), samples_passed=passed, samples=total,
                   **({"samples_edited": edited} if ctx.check_edits else {}),
                   pass_rate_by_check={k: round(a / b, 4) for k, (a, b) in sorted(by_check.items())})
    return answers, failed, [entry]


@node("assess")
def assess(state: SelfImproveState, ctx: Context) -> dict:
    """The current model rates its own pairs (quality, following; 1-10)."""
    from graph.judging import judge_questions
    from records import write_jsonl
    from scoring.assess import self_assess

    i, rows = state["iteration"], state["rows"]
    found = self_assess(load_model(ctx, state["model"]), rows, prompt=ctx.prompt("SELF_ASSESS_PROMPT"),
                        binary=judge_questions(ctx), reading=ctx.judge_reading, batch_size=ctx.batch_size) if rows else []
    rated = [{**r, "assessment": a.to_dict()} for r, a in zip(rows, found)]
    write_jsonl(iter_dir(ctx, i) / "pairs.jsonl", rated)
    readings = sorted({a.reading for a in found})
    return {"rows": rated, "log": [_entry(i, "assess", f"rated ({', '.join(readings) or '-'})", len(rows), len(rows))]}


@node("select")
def select(state: SelfImproveState, ctx: Context) -> dict:
    """Pairs rated >= assess_threshold on both axes; then the optional perplexity and density filters."""
    from graph.self_improve.report import rating_summary
    from records import write_jsonl
    from scoring.assess import Assessment, density_filter, perplexity_filter, threshold_filter
    from tools.self_instruct import run_filters

    i, rows = state["iteration"], state["rows"]

    def threshold(rs):
        found = [Assessment(quality=r["assessment"]["quality"], following=r["assessment"]["following"]) for r in rs]
        return _dropped(threshold_filter(rs, found, threshold=ctx.assess_threshold))

    steps = [(f"ratings >= {ctx.assess_threshold}", threshold)]
    if ctx.isheep_perplexity:
        steps.append((f"perplexity <= {ctx.max_perplexity:g}", lambda rs: _dropped(perplexity_filter(
            load_model(ctx, state["model"]), rs, max_ppl=ctx.max_perplexity, batch_size=ctx.batch_size))))
    if ctx.isheep_density:
        from llms.embeddings import load_embedder

        steps.append(("density", lambda rs: _dropped(density_filter(
            rs, load_embedder(ctx.embedder).encode, n_clusters=ctx.density_clusters,
            per_cluster=ctx.density_per_cluster, seed=ctx.seed))))
    kept, dropped, log = run_filters(rows, steps)
    _record_drops(ctx, i, "select", dropped)
    write_jsonl(iter_dir(ctx, i) / "dataset.jsonl", kept)
    log[0]["ratings"] = rating_summary(rows)
    return {"rows": kept, "log": [{"iteration": i, "stage": "select", **e} for e in log]}


def _dropped(result):
    kept, stats = result
    return kept, stats["dropped_rows"]


@node("train")
def train(state: SelfImproveState, ctx: Context) -> dict:
    """LoRA SFT under isheep_setting; the adapter goes to iter<N>/sft/adapter."""
    from trainers.recipe import sft_recipe_for
    from trainers.update import update_policy

    i, done = state["iteration"], state.get("iterations") or []
    rows = state["rows"]
    if ctx.isheep_setting == "total_base":
        rows = [r for rec in done for r in rec["dataset"]] + rows
    base = state["model"] if ctx.isheep_setting == "one_last" else ctx.policy
    # rows with checks are tens of verified answers: the small-set recipe, as improve's update on such a task
    recipe = sft_recipe_for(ctx.sft_recipe, checks=any(r.get("checks") for r in rows))
    updated = update_policy("sft", rows, policy=base, out_dir=iter_dir(ctx, i) / "sft", recipe=recipe)
    return {"updated": {**updated, "trained_from": base, "setting": ctx.isheep_setting},
            "log": [_entry(i, "train", f"trained ({ctx.isheep_setting})", len(rows), len(rows))]}


@node("evaluate")
def evaluate(state: SelfImproveState, ctx: Context) -> dict:
    """The iteration's model against the base policy on the held-out instructions (the harness)."""
    from graph.harness import evaluate_updates

    i, updated = state["iteration"], state["updated"]
    name = f"iter{i}"
    rep = evaluate_updates(ctx, [{"task": state.get("name") or "self-improve", "held_out": state["held_out"]}],
                           {name: updated}, iter_dir(ctx, i) / "eval")
    record = {"iteration": i, "generated_by": state["model"], "model": updated["policy"], "updated": updated,
              "dataset": state["rows"], "instructions": state.get("instructions") or [],
              "evaluation": rep["methods"][0], "cells": rep["cells_detail"]}
    return {"iterations": [record]}


@node("report")
def report(state: SelfImproveState, ctx: Context) -> dict:
    """report.json, report.md and metric_by_iteration.png across the iterations."""
    from graph.self_improve.report import build

    return {"report": build(state, ctx)}


# ---- routers ----------------------------------------------------------------------------

def after_evaluate(state: SelfImproveState, runtime: Runtime[Context]) -> str:
    return "generate" if len(state.get("iterations") or []) < context_of(runtime).isheep_iterations else "report"


# ---- wiring -----------------------------------------------------------------------------

builder = StateGraph(SelfImproveState, context_schema=Context, input_schema=SelfImproveInput,
                     output_schema=SelfImproveOutput)
for name, fn in (("generate", generate), ("filter", filter_tasks), ("respond", respond), ("assess", assess),
                 ("select", select), ("train", train), ("evaluate", evaluate), ("report", report)):
    builder.add_node(name, fn)
builder.add_edge(START, "generate")
for a, b in zip(STAGES, STAGES[1:]):
    builder.add_edge(a, b)
builder.add_conditional_edges("evaluate", after_evaluate, ["generate", "report"])
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "self-improve"
