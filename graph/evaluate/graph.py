"""The evaluation harness: every method on many tasks, against the same original answers, with cost.

plan (one cell per task x method x update x curation x seed) -> originals (the original policy's
held-out answers, once per task) -> cell (one per step, or with executor=ray all of them at once as
Ray tasks: an improve run of that method, checkpointed as its own thread, so an interrupted
evaluation resumes inside the cell it was in and never re-runs a finished one) -> report (eval_report.json / .md and PNG plots, graph/eval_report.py).

Methods (``METHODS``; any spec after ``ads=`` is an optimizer, e.g. a refined adapter):

| method             | what it buys                                                        |
|--------------------|---------------------------------------------------------------------|
| original           | nothing: the original policy (its row is the baseline accuracy)     |
| prompting          | the untrained optimizer (ctx.optimizer without an adapter) plans    |
| ads, ads=SPEC      | the optimizer ctx.optimizer (or SPEC) plans                         |
| ads-only:API       | the optimizer plans, allowed one API (a single-API ablation)        |
| retrieval          | information_retrieval(each observed instruction)                    |
| self-instruct      | demonstration_generation(each observed instruction)                 |
| rule-qa            | question_answering(each observed instruction)                       |

``evaluate_updates(ctx, tasks, updates, out_dir)`` measures already-updated policies (e.g. the
adapters of Star-Agents or I-SHEEP) on tasks the same way and writes the same report.
"""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graph.context import Context
from graph.nodes import node

FIXED_PLANS = {"retrieval": "information_retrieval", "self-instruct": "demonstration_generation",
               "rule-qa": "question_answering"}
METHODS = ("original", "prompting", "ads", "ads=SPEC", "ads-only:API", *FIXED_PLANS)


class EvalInput(TypedDict, total=False):
    tasks: list[dict]  # task inputs (graph.tasks.load.load_task), each with held-out items
    methods: list[str]  # see METHODS
    updates: list[str]  # update kinds to compare (default: Context.update)
    curations: list[list[str]]  # curation strategies to compare, each a list of steps (default: Context.curation)
    seeds: list[int]  # seeds of every cell (default: [Context.seed])


class EvalOutput(TypedDict, total=False):
    eval_report: dict


class EvalState(EvalInput, EvalOutput, total=False):
    cells: list[dict]  # planned cells: {"key", "task", "method", "update", "curation", "seed", "label"}
    originals: Annotated[dict, lambda a, b: {**(a or {}), **(b or {})}]  # task -> original held-out answers
    done: Annotated[list[dict], operator.add]  # finished cells, in plan order


def check_method(method: str) -> str:
    from tools.table import TOOL_NAMES, resolve

    if method in ("original", "prompting", "ads") or method in FIXED_PLANS or method.startswith("ads="):
        return method
    if method.startswith("ads-only:") and resolve(method.split(":", 1)[1]) in TOOL_NAMES:
        return f"ads-only:{resolve(method.split(':', 1)[1])}"
    raise ValueError(f"unknown method {method!r}: use {', '.join(METHODS)} (API: {', '.join(TOOL_NAMES)})")


def method_settings(method: str, task: dict, ctx: Context) -> tuple[dict, list | None]:
    """(Context changes, fixed plan or None) that make an improve run the method."""
    import llms

    if method in FIXED_PLANS:
        api = FIXED_PLANS[method]
        plan = [{"name": api, "arg": o} for o in task["observed"]]
        return {"max_calls": len(plan), "max_cost": ctx.costs[api] * len(plan)}, plan
    if method == "prompting":
        ms = llms.parse_spec(ctx.optimizer)
        return {"optimizer": str(llms.ModelSpec(ms.backend, ms.name, ms.base_url))}, None
    if method.startswith("ads="):
        return {"optimizer": method[4:]}, None
    if method.startswith("ads-only:"):
        return {"apis": [method.split(":", 1)[1]]}, None
    return {}, None


def cell_label(method: str, update: str, curation: list[str], state: dict, ctx: Context) -> str:
    label = method
    if len(state.get("updates") or [ctx.update]) > 1:
        label += f" / {update}"
    if len(state.get("curations") or [ctx.curation]) > 1:
        label += f" / {'+'.join(curation) or 'none'}"
    return label


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    """Steps of an evaluation: one per task (original answers), one per cell, and a margin."""
    inputs = inputs or {}
    tasks = len(inputs.get("tasks") or [])
    cells = tasks * len(inputs.get("methods") or ["original", "ads"]) * len(inputs.get("updates") or [1]) \
        * len(inputs.get("curations") or [1]) * len(inputs.get("seeds") or [1])
    return tasks + cells + 20


# ---- nodes -----------------------------------------------------------------------------------

@node("plan")
def plan(state: EvalState, ctx: Context) -> dict:
    """Every (task, method, update, curation, seed) cell, in order."""
    tasks = state.get("tasks") or []
    if not tasks:
        raise ValueError("no tasks to evaluate: build some with python cli.py tasks build")
    methods = [check_method(m) for m in state.get("methods") or ["original", "ads"]]
    cells = []
    for task in tasks:
        for method in methods:
            for update in state.get("updates") or [ctx.update]:
                for curation in state.get("curations") or [ctx.curation]:
                    for seed in state.get("seeds") or [ctx.seed]:
                        if method == "original" and (update, curation) != ((state.get("updates") or [ctx.update])[0],
                                                                            (state.get("curations") or [ctx.curation])[0]):
                            continue  # the original policy is one baseline, whatever the variants
                        label = "original" if method == "original" else cell_label(method, update, curation, state, ctx)
                        cells.append({"key": f"{task['task']}|{label}|{seed}", "task": task["task"], "method": method,
                                      "update": update, "curation": list(curation), "seed": seed, "label": label})
    return {"cells": cells}


@node("originals")
def originals(state: EvalState, ctx: Context) -> dict:
    """The original policy's answers to one task's held-out instructions (one task per step)."""
    from graph.heldout import original_answers

    task = next(t for t in state["tasks"] if t["task"] not in (state.get("originals") or {}))
    return {"originals": {task["task"]: original_answers(ctx, task["held_out"])}}


@node("cell")
def cell(state: EvalState, ctx: Context) -> dict:
    """The next cell (executor=local) or every remaining one at once (executor=ray): each an improve
    run of its method, checkpointed as its own thread."""
    from graph.executor import batch, run_units

    tasks = {t["task"]: t for t in state["tasks"]}
    todo = batch(ctx, state["cells"][len(state.get("done") or []):])
    return {"done": run_units(ctx, run_cell, [(ctx, c, tasks[c["task"]], state["originals"][c["task"]]) for c in todo])}


@node("report")
def report(state: EvalState, ctx: Context) -> dict:
    from graph import harness

    methods = list(dict.fromkeys(c["label"] for c in state["cells"]))
    rep = harness.aggregate(state.get("done") or [], methods, seed=ctx.seed)
    rep["settings"] = {"policy": ctx.policy, "optimizer": ctx.optimizer, "updates": state.get("updates") or [ctx.update],
                       "curations": state.get("curations") or [ctx.curation], "seeds": state.get("seeds") or [ctx.seed],
                       "judge_mode": ctx.judge_mode, "judge": ctx.judge, "run_dir": ctx.run_dir}
    rep["cells_detail"] = state.get("done") or []
    return {"eval_report": harness.write(rep, ctx.run_dir)}


def run_cell(ctx: Context, c: dict, task: dict, original: list[str]) -> dict:
    """One cell as a record: per-item outcomes, cost, calls, dataset size, tokens, seconds."""
    from graph.harness import item_rows
    from graph.runs import TASK_INPUTS, UnitRuns

    base = {k: c[k] for k in ("task", "method", "update", "seed", "label", "curation")}
    base["method"] = c["label"]
    if c["method"] == "original":  # the baseline: every item a tie with itself
        from scoring.compare import verify_pair

        items = []
        for item, answer in zip(task["held_out"], original):
            item = {"instruction": item} if isinstance(item, str) else item
            _, passed = verify_pair(item, answer, answer)
            items.append({"instruction": item["instruction"], "winner": "tie", "passed": passed})
        return {**base, "category": task.get("category"), "items": item_rows(task["task"], items, task.get("category")),
                "cost": 0.0, "api_calls": [], "dataset_size": 0, "tokens": 0, "seconds": 0.0, "outcome": "no change"}
    changes, fixed = method_settings(c["method"], task, ctx)
    run_dir = Path(ctx.run_dir) / "cells" / _slug(c["task"]) / _slug(c["label"]) / f"seed{c['seed']}"
    cell_ctx = ctx.variant(**changes, update=c["update"], curation=c["curation"], seed=c["seed"], run_dir=str(run_dir),
                           step=False)
    inputs = {k: task[k] for k in TASK_INPUTS if k in task}
    inputs["original_answers"] = original
    if fixed is not None:
        inputs["plan"] = fixed
    t0 = time.perf_counter()
    values = UnitRuns(ctx, "cells").finish("improve", c["key"], inputs, cell_ctx)
    rep = values["report"]
    return {**base, "category": task.get("category"), "items": item_rows(task["task"], rep["items"], task.get("category")),
            "cost": rep["cost_total"], "api_calls": rep["api_calls"], "dataset_size": rep["dataset_size"],
            "tokens": rep.get("tokens", 0), "seconds": round(time.perf_counter() - t0, 2),
            "outcome": rep["outcome"]["verdict"], "run_dir": rep["run_dir"],
            "parse_ok": None if fixed is not None else rep["parse_gave_up"] is None,
            "flagged_calls": len(rep.get("flagged_calls") or [])}


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "x"


# ---- routers and wiring ---------------------------------------------------------------------

def after_originals(state: EvalState) -> str:
    return "originals" if len(state.get("originals") or {}) < len(state["tasks"]) else "cell"


def after_cell(state: EvalState) -> str:
    return "cell" if len(state.get("done") or []) < len(state["cells"]) else "report"


builder = StateGraph(EvalState, context_schema=Context, input_schema=EvalInput, output_schema=EvalOutput)
builder.add_node("plan", plan)
builder.add_node("originals", originals)
builder.add_node("cell", cell)
builder.add_node("report", report)
builder.add_edge(START, "plan")
builder.add_edge("plan", "originals")
builder.add_conditional_edges("originals", after_originals, ["originals", "cell"])
builder.add_conditional_edges("cell", after_cell, ["cell", "report"])
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "evaluate"
