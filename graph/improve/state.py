"""The improve graph's state: what a host passes in, what the nodes share, what a host gets back.

Every list a node appends to, and every dict several nodes fill (judge and IFD write their own
keys of ``scores``), carries an explicit reducer; everything else is last-write-wins.
"""

from __future__ import annotations

import operator
from typing import Annotated

# typing_extensions' TypedDict: LangGraph's server (langgraph dev / Studio) builds JSON schemas of
# the input and output with pydantic, which refuses typing.TypedDict on Python < 3.12.
from typing_extensions import TypedDict

from graph.reducers import add_timings, merge


def cost_of(results: list[dict] | None) -> float:
    """The API cost the finished tool calls ``results`` (the state's "results") have spent."""
    return sum(float(r.get("cost") or 0) for r in results or [])


class InputState(TypedDict, total=False):
    """What a host app passes in: the target task."""

    task: str  # name of the task
    description: str  # what the task is about, in a sentence (optional; shown to the optimizer)
    category: str  # a label of the task (optional; the evaluation harness reports by category)
    observed: list[str]  # instructions the optimizer sees
    held_out: list  # instructions (str) or {"instruction", "answers"?, "checks"?}; never shown to the optimizer
    checks: list  # optional: IFEval checks every answer of the task must pass ({"id", "kwargs"})
    observed_checks: dict  # optional: observed instruction -> the checks its answer must pass
    plan: list  # optional fixed calls [{"name", "arg"}]: the optimizer is not asked (baselines, replays)
    original_answers: list[str]  # optional: the original policy's held-out answers, computed once by a caller


class OutputState(TypedDict, total=False):
    """What a host app gets back."""

    report: dict  # the report contract (see graph.improve.report.build_report)


class State(InputState, OutputState, total=False):
    # analyse/parse: one optimizer reply per attempt, the parse outcome of each
    optimizer_replies: Annotated[list[dict], operator.add]  # {"attempt", "text", "seconds"}
    parse_log: Annotated[list[dict], operator.add]  # {"attempt", "ok", "errors"}
    optimizer_chat: list[dict]  # the chat the optimizer is asked first (with a fixed plan: would be); refine trains on it
    anticipated: dict  # questions the optimizer anticipated: {"questions", "written", "prompt", "generated", "dropped"}
    calls: list[dict]  # planned calls within budget: {"index", "name", "arg", "cost"}
    dropped: list[dict]  # parsed calls left out: {"name", "arg", "reason"}
    # tools: one entry per planned call, appended as each finishes (so a resume never repeats it)
    results: Annotated[list[dict], operator.add]  # ToolResult.to_dict() + {"index", "status"}
    # judge / ifd / curate
    scores: Annotated[dict, merge]  # {"judge": [..], "ifd": [..], "ppl": [..], "dual_ifd": [..]} aligned with gathered rows
    dataset: list[dict]  # curated rows, with provenance and scores
    dropped_rows: list[dict]  # gathered rows curation left out: {"row", "step", "reason"}
    curation: list[dict]  # one entry per curation step: {"step", "in", "kept", "dropped", "examples"}
    # rounds (Context.rounds > 1)
    round: int  # the round in progress, from 0
    competence: list[dict]  # the current policy's answers to the observed instructions: {"instruction", "answer"}
    rounds: Annotated[list[dict], operator.add]  # one row per finished round: calls, cost, data, validation score
    validation_original: list[str]  # the original policy's answers to the validation items
    # update / evaluate
    updated: dict  # {"kind": "icl", "context": str, ...} | {"kind": "sft", "policy": spec, ...}
    gate: dict  # the gate's record on a task with checks (graph/improve/gate.py): applied, kept, passes before / after
    evaluation: dict  # summary + per-item records
    timings: Annotated[dict, add_timings]  # seconds per stage
