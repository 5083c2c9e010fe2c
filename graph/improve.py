"""The improve graph: Active Data Search on one target task.

analyse (optimizer plans API calls) -> parse (lenient, bounded retries, budget) -> tools (one
call per step, so every finished call is checkpointed; optional interrupt before each) ->
judge -> ifd -> curate -> update (icl | sft) -> evaluate (held-out, original vs
updated) -> report.

``graph`` is compiled without a checkpointer: the CLI adds SQLite, tests add memory, a host app
embeds it as a subgraph (its checkpointer is inherited).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

import llms
from graph.context import Context
from graph.parse import parse_api_calls, within_budget
from graph.state import InputState, OutputState, State

STAGES = ("analyse", "parse", "tools", "judge", "ifd", "curate", "update", "evaluate", "report")


def context_of(runtime: Runtime | None) -> Context:
    """The run's Context; a host app that embeds the graph may pass a dict or nothing."""
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, Context):
        return ctx
    if isinstance(ctx, dict):
        return Context(**{k: v for k, v in ctx.items() if k in Context.describe()})
    return Context()


def _load(spec: str, ctx: Context):
    return llms.load(spec, dtype=ctx.dtype)


def gathered_rows(state: State) -> list[dict]:
    """Every row the finished tool calls brought back, tagged with the call that bought it."""
    rows = []
    for result in state.get("results") or []:
        if result.get("status") != "ok":
            continue
        for row in result.get("rows") or []:
            rows.append({**row, "call": result["index"]})
    return rows


def as_pair(row: dict) -> dict:
    """A row as an instruction-response pair for the judge: a document answers "tell me about <title>"."""
    if row.get("type") == "document" or "instruction" not in row:
        topic = row.get("title") or (row.get("provenance") or {}).get("arg") or "this topic"
        return {"instruction": f"Give accurate information about {topic}.", "response": row.get("text") or ""}
    return row


def tool_api():
    """(names, aliases, langchain tools) from tools/, imported when the graph first needs them."""
    import tools

    return list(tools.TOOL_NAMES), dict(getattr(tools, "ALIASES", {})), list(tools.TOOLS)


# ---- nodes ------------------------------------------------------------------------------

def analyse(state: State, runtime: Runtime[Context]) -> dict:
    """The optimizer reads the observed instructions and writes its analysis and API calls."""
    from graph.optimizer import optimizer_messages

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    attempt = len(state.get("optimizer_replies") or [])
    last_error = (state.get("parse_log") or [{}])[-1].get("errors") if attempt else None
    messages = optimizer_messages(ctx, state.get("task") or "task", state["observed"],
                                  retry_error="; ".join(last_error or []) or None)
    # a retry of a greedy reply would repeat it word for word: retries sample, seeded
    temperature = ctx.temperature if attempt == 0 else max(ctx.temperature, 0.7)
    gen = _load(ctx.optimizer, ctx).generate(
        [messages], llms.SamplingParams(max_new_tokens=ctx.max_new_tokens, temperature=temperature,
                                        seed=ctx.seed + attempt))[0][0]
    seconds = time.perf_counter() - t0
    return {"optimizer_replies": [{"attempt": attempt, "text": gen.text, "seconds": round(seconds, 3),
                                   "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}],
            "timings": {"analyse": seconds}}


def parse(state: State, runtime: Runtime[Context]) -> dict:
    """Tool calls from the last reply; retried while unparsable, then recorded; budget applied."""
    ctx = context_of(runtime)
    t0 = time.perf_counter()
    reply = state["optimizer_replies"][-1]
    names, aliases, _ = tool_api()
    parsed = parse_api_calls(reply["text"], names, aliases)
    attempt = reply["attempt"]
    retry = not parsed.ok and attempt < ctx.parse_retries
    log = {"attempt": attempt, "ok": parsed.ok, "none": parsed.none, "errors": parsed.errors,
           "calls": [list(c) for c in parsed.calls], "retry": retry}
    out: dict = {"parse_log": [log]}
    if not retry:
        calls, dropped = within_budget(parsed.calls, ctx.costs, ctx.max_calls, ctx.max_cost)
        out["calls"] = calls
        out["dropped"] = dropped + [{"reason": e} for e in parsed.errors]
        if not parsed.ok:
            log["gave_up"] = f"no usable reply after {attempt + 1} attempt(s); continuing without data"
    out["timings"] = {"parse": time.perf_counter() - t0}
    return out


def _decide(call: dict, state: State, ctx: Context):
    """In step mode, pause with the pending call and return (action, arg) from the resume value."""
    if not ctx.step:
        return "approve", call["arg"]
    done = state.get("results") or []
    answer = interrupt({
        "pending": {k: call[k] for k in ("index", "name", "arg", "cost")},
        "call": f"{call['index'] + 1} of {len(state['calls'])}",
        "cost_so_far": sum(r.get("cost") or 0 for r in done),
        "remaining": [f"{c['name']}({c['arg']!r})" for c in state["calls"][call["index"] + 1:]],
        "resume_with": "approve | skip | quit | {'action': 'edit', 'arg': 'new argument'}",
    })
    if isinstance(answer, dict):
        action, arg = str(answer.get("action", "approve")).lower(), answer.get("arg") or call["arg"]
    else:
        action, _, arg = str(answer).partition(":")
        action, arg = action.strip().lower(), arg.strip() or call["arg"]
    if action not in ("approve", "edit", "skip", "quit"):
        raise ValueError(f"unknown resume value {answer!r}: use approve, skip, quit or {{'action': 'edit', 'arg': ...}}")
    return action, arg


def run_tools(state: State, runtime: Runtime[Context]) -> dict:
    """Execute the next pending call. One call per step: a resume never repeats a finished call."""
    import tools

    ctx = context_of(runtime)
    done = state.get("results") or []
    call = state["calls"][len(done)]
    action, arg = _decide(call, state, ctx)
    t0 = time.perf_counter()
    base = {"index": call["index"], "tool": call["name"], "arg": arg, "planned_cost": call["cost"]}
    if arg != call["arg"]:
        base["edited_from"] = call["arg"]
    if action == "quit":  # stop collecting: this and every later call are skipped
        rest = state["calls"][len(done):]
        return {"results": [{"index": c["index"], "tool": c["name"], "arg": c["arg"], "planned_cost": c["cost"],
                             "status": "quit", "cost": 0.0, "rows": []} for c in rest]}
    if action == "skip":
        return {"results": [{**base, "status": "skipped", "cost": 0.0, "rows": []}]}
    try:
        result = tools.call_tool(call["name"], arg, ctx).to_dict()
    except Exception as e:  # a broken tool must not end the run: it becomes an error in the state
        result = {"tool": call["name"], "arg": arg, "cost": 0.0, "rows": [], "cached": False,
                  "error": f"{type(e).__name__}: {e}"}
    seconds = time.perf_counter() - t0
    result = {**result, **base, "status": "error" if result.get("error") else "ok"}
    result.setdefault("latency_s", round(seconds, 3))
    return {"results": [result], "timings": {"tools": seconds}}


def judge(state: State, runtime: Runtime[Context]) -> dict:
    """Quality of every gathered row, assessed by the judge model (1-10 -> score 0..1)."""
    from scoring.assess import self_assess

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    rows = [as_pair(r) for r in gathered_rows(state)]
    assessed = self_assess(_load(ctx.judge, ctx), rows, batch_size=ctx.batch_size) if rows else []
    scores = [{"quality": a.quality, "following": a.following, "score": a.score} for a in assessed]
    return {"scores": {"judge": scores}, "timings": {"judge": time.perf_counter() - t0}}


def ifd(state: State, runtime: Runtime[Context]) -> dict:
    """Instruction-following difficulty on the policy, for rows that pair an instruction and a response."""
    from scoring.ifd import ifd_scores

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    rows = gathered_rows(state)
    pairs = [i for i, r in enumerate(rows) if r.get("instruction") and r.get("response")]
    values: list = [None] * len(rows)
    if pairs:
        for i, v in zip(pairs, ifd_scores(_load(ctx.policy, ctx), [rows[i] for i in pairs])):
            values[i] = v
    return {"scores": {"ifd": values}, "timings": {"ifd": time.perf_counter() - t0}}


def curate(state: State, runtime: Runtime[Context]) -> dict:
    """Dedupe, filter by judge score, keep provenance; write dataset.jsonl."""
    from graph.curate import curate_rows

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    scores = state.get("scores") or {}
    dataset, dropped = curate_rows(gathered_rows(state), scores.get("judge") or [], scores.get("ifd") or [],
                                   min_judge_score=ctx.min_judge_score)
    run_dir = Path(ctx.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "dataset.jsonl", "w", encoding="utf-8") as f:
        for row in dataset:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"dataset": dataset, "dropped": (state.get("dropped") or []) + dropped,
            "timings": {"curate": time.perf_counter() - t0}}


def update(state: State, runtime: Runtime[Context]) -> dict:
    """The updated policy: curated data packed into its context (icl) or a LoRA adapter (sft)."""
    from graph.evaluate import update_policy

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    updated = update_policy(ctx, state.get("dataset") or [])
    return {"updated": updated, "timings": {"update": time.perf_counter() - t0}}


def evaluate(state: State, runtime: Runtime[Context]) -> dict:
    """Original vs updated policy on the held-out instructions: verifier if possible, else judge."""
    from graph.evaluate import evaluate_held_out

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    evaluation = evaluate_held_out(ctx, state.get("held_out") or [], state["updated"])
    return {"evaluation": evaluation, "timings": {"evaluate": time.perf_counter() - t0}}


def report(state: State, runtime: Runtime[Context]) -> dict:
    """report.json, report.md and trajectory.json in the run directory."""
    from graph.report import build_report, write_run

    ctx = context_of(runtime)
    t0 = time.perf_counter()
    timings = {**(state.get("timings") or {}), "report": 0.0}
    rep = build_report(state, ctx, timings)
    write_run(state, rep, Path(ctx.run_dir))
    rep["timings"]["report"] = round(time.perf_counter() - t0, 3)
    (Path(ctx.run_dir) / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False), encoding="utf-8")
    return {"report": rep, "timings": {"report": time.perf_counter() - t0}}


# ---- routers ----------------------------------------------------------------------------

def after_parse(state: State) -> str | list[str]:
    if state["parse_log"][-1]["retry"]:
        return "analyse"
    return "tools" if state.get("calls") else "judge"


def after_tools(state: State) -> str | list[str]:
    if len(state.get("results") or []) < len(state["calls"]):
        return "tools"
    return "judge"


# ---- wiring -----------------------------------------------------------------------------

builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
builder.add_node("analyse", analyse)
builder.add_node("parse", parse)
builder.add_node("tools", run_tools)
builder.add_node("judge", judge)
builder.add_node("ifd", ifd)
builder.add_node("curate", curate)
builder.add_node("update", update)
builder.add_node("evaluate", evaluate)
builder.add_node("report", report)
builder.add_edge(START, "analyse")
builder.add_edge("analyse", "parse")
builder.add_conditional_edges("parse", after_parse, ["analyse", "tools", "judge"])
builder.add_conditional_edges("tools", after_tools, ["tools", "judge"])
# judge and IFD run one after the other: both usually drive the same local model, whose
# tokenizer is not safe to share between threads
builder.add_edge("judge", "ifd")
builder.add_edge("ifd", "curate")
builder.add_edge("curate", "update")
builder.add_edge("update", "evaluate")
builder.add_edge("evaluate", "report")
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "improve"
