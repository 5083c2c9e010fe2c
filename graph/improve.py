"""The improve graph: Active Data Search on one target task.

analyse (optimizer plans API calls) -> parse (lenient, bounded retries, budget) -> tools (one
call per step, so every finished call is checkpointed; optional interrupt before each) ->
judge -> ifd -> curate -> update (icl | sft) -> evaluate (held-out, original vs
updated) -> report.

``graph`` is compiled without a checkpointer: the CLI adds SQLite, tests add memory, a host app
embeds it as a subgraph (its checkpointer is inherited).
"""

from __future__ import annotations

import time
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

import llms
from graph.context import Context, load_model, node
from graph.state import InputState, OutputState, State

STAGES = ("analyse", "parse", "tools", "judge", "ifd", "curate", "update", "evaluate", "report")


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    """Graph steps a run can take: the optimizer's attempts, one step per call, the fixed stages,
    and a margin. A run that needs more is looping, and LangGraph stops it."""
    return 2 * (ctx.parse_retries + 1) + ctx.max_calls + len(STAGES) + 10


def gathered_rows(state: State) -> list[dict]:
    """Every row the finished tool calls brought back, tagged with the call that bought it."""
    rows = []
    for result in state.get("results") or []:
        if result.get("status") != "ok":
            continue
        for row in result.get("rows") or []:
            rows.append({**row, "call": result["index"]})
    return rows


def scored_rows(state: State) -> list[dict]:
    """The gathered rows with the scores the scoring nodes computed for them."""
    scores = state.get("scores") or {}
    rows = []
    for i, row in enumerate(gathered_rows(state)):
        # "score" orders rows when they are packed into the policy's context (trainers.icl.pack)
        if "score" in row:
            row = {**row, "retrieval_score": row.pop("score")}
        for key in ("judge", "ifd", "ppl", "dual_ifd", "ifd_large"):
            values = scores.get(key)
            if values is not None and i < len(values):
                row[key] = values[i]
        row["score"] = (row.get("judge") or {}).get("score")
        rows.append(row)
    return rows


def judge_questions(ctx: Context) -> dict:
    """The yes/no questions a judge read by log-probs answers, per axis: (question, answer template)."""
    return {"quality": (ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER")),
            "following": (ctx.prompt("JUDGE_FOLLOWING_QUESTION"), ctx.prompt("JUDGE_FOLLOWING_ANSWER"))}


def as_pair(row: dict) -> dict:
    """A row as an instruction-response pair for the judge: a document answers "tell me about <title>"."""
    if row.get("type") == "document" or "instruction" not in row:
        topic = row.get("title") or (row.get("provenance") or {}).get("arg") or "this topic"
        return {"instruction": f"Give accurate information about {topic}.", "response": row.get("text") or ""}
    return row


# ---- nodes ------------------------------------------------------------------------------

@node("analyse")
def analyse(state: State, ctx: Context) -> dict:
    """The optimizer reads the observed instructions and writes its analysis and API calls."""
    from graph.optimizer import optimizer_messages

    if state.get("plan") is not None:  # fixed calls: written in the optimizer's format, nobody is asked
        calls = "".join(f'<api>{c["name"]}("{c["arg"]}")</api>' for c in state["plan"]) or "none"
        return {"optimizer_replies": [{"attempt": 0, "text": f"<api_calls>{calls}</api_calls>", "seconds": 0.0,
                                       "fixed_plan": True, "prompt_tokens": 0, "completion_tokens": 0}]}
    t0 = time.perf_counter()
    attempt = len(state.get("optimizer_replies") or [])
    last_error = (state.get("parse_log") or [{}])[-1].get("errors") if attempt else None
    messages = optimizer_messages(ctx, state.get("description"), state["observed"],
                                  retry_error="; ".join(last_error or []) or None)
    # a retry of a greedy reply would repeat it word for word: retries sample, seeded
    first = ctx.temperature if ctx.optimizer_temperature is None else ctx.optimizer_temperature
    temperature = first if attempt == 0 else max(first, 0.7)
    gen = load_model(ctx, ctx.optimizer).generate(
        [messages], llms.SamplingParams(max_new_tokens=ctx.max_new_tokens, temperature=temperature,
                                        seed=ctx.seed + attempt))[0][0]
    return {"optimizer_replies": [{"attempt": attempt, "text": gen.text, "seconds": round(time.perf_counter() - t0, 3),
                                   "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}]}


@node("parse")
def parse(state: State, ctx: Context) -> dict:
    """Tool calls from the last reply; retried while unparsable, then recorded; budget applied."""
    from tools.parse import parse_api_calls, within_budget

    reply = state["optimizer_replies"][-1]
    parsed = parse_api_calls(reply["text"], names=ctx.apis)
    attempt = reply["attempt"]
    retry = not parsed.ok and attempt < ctx.parse_retries
    log = {"attempt": attempt, "ok": parsed.ok, "none": parsed.none, "errors": parsed.errors,
           "calls": [list(c) for c in parsed.calls], "retry": retry}
    out: dict = {"parse_log": [log]}
    if not retry:
        from graph.optimizer import suspicious_calls

        calls, dropped = within_budget(parsed.calls, ctx.costs, ctx.max_calls, ctx.max_cost)
        out["calls"] = calls
        if not reply.get("fixed_plan"):
            log["flags"] = suspicious_calls(ctx, calls, state.get("task"))
        out["dropped"] = dropped + [{"reason": e} for e in parsed.errors]
        if not parsed.ok:
            log["gave_up"] = f"no usable reply after {attempt + 1} attempt(s); continuing without data"
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


@node("tools")
def run_tools(state: State, ctx: Context) -> dict:
    """Execute the next pending call. One call per step: a resume never repeats a finished call."""
    import tools

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
    result = {**result, **base, "status": "error" if result.get("error") else "ok"}
    result.setdefault("latency_s", round(time.perf_counter() - t0, 3))
    return {"results": [result]}


@node("judge")
def judge(state: State, ctx: Context) -> dict:
    """The judge's 1-10 ratings of every gathered row (score 0..1), when a curation step uses them."""
    from graph.curate import needed_scores
    from scoring.assess import self_assess

    rows = [as_pair(r) for r in gathered_rows(state)]
    if "judge" not in needed_scores(ctx.curation) or not rows:
        return {"scores": {"judge": None}}
    assessed = self_assess(load_model(ctx, ctx.judge), rows, prompt=ctx.prompt("SELF_ASSESS_PROMPT"),
                           binary=judge_questions(ctx), reading=ctx.judge_reading, batch_size=ctx.batch_size)
    return {"scores": {"judge": [{"quality": a.quality, "following": a.following, "score": a.score,
                                  "reading": a.reading} for a in assessed]}}


@node("ifd")
def ifd(state: State, ctx: Context) -> dict:
    """IFD and response perplexity on the policy (and the dual-model IFD with large_model), for
    rows that pair an instruction and a response, when a curation step uses them."""
    from graph.curate import needed_scores
    from scoring.ifd import dual_ifd, ifd_details, ifd_scores

    rows = gathered_rows(state)
    need = needed_scores(ctx.curation)
    pairs = [i for i, r in enumerate(rows) if r.get("type") != "document" and r.get("instruction") and r.get("response")]
    if "ifd" not in need or not pairs:
        return {"scores": {"ifd": None, "ppl": None}}
    values, ppl = [None] * len(rows), [None] * len(rows)
    for i, d in zip(pairs, ifd_details(load_model(ctx, ctx.policy), [rows[i] for i in pairs])):
        if d:
            values[i], ppl[i] = d["ifd"], d["ppl_conditional"]
    out = {"ifd": values, "ppl": ppl}
    if "dual_ifd" in need:
        large = ifd_scores(load_model(ctx, ctx.large_model), [rows[i] for i in pairs])
        both = [(i, v) for i, v in zip(pairs, large) if v is not None and values[i] is not None]
        out["ifd_large"], out["dual_ifd"] = [None] * len(rows), [None] * len(rows)
        for (i, big), d in zip(both, dual_ifd([values[i] for i, _ in both], [v for _, v in both])):
            out["ifd_large"][i], out["dual_ifd"][i] = big, d
    return {"scores": out}


@node("curate")
def curate(state: State, ctx: Context) -> dict:
    """The curation pipeline (graph/curate.py) over the scored rows; writes dataset.jsonl."""
    from graph.curate import curate as run_pipeline
    from graph.curate import needed_scores, relevance_scores
    from records import write_jsonl

    rows = scored_rows(state)
    if "relevance" in needed_scores(ctx.curation):
        from llms.embeddings import load_embedder

        for row, r in zip(rows, relevance_scores(rows, state["observed"], load_embedder(ctx.embedder).encode)):
            row["relevance"] = r
    dataset, dropped, log = run_pipeline(rows, ctx)
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


@node("update")
def update(state: State, ctx: Context) -> dict:
    """The updated policy: curated data packed into its context (icl) or a LoRA adapter (sft)."""
    from trainers.update import update_policy

    dataset = state.get("dataset") or []
    policy = load_model(ctx, ctx.policy) if ctx.update == "icl" else None
    updated = update_policy(ctx.update, dataset, policy=ctx.policy,
                            count_tokens=policy.count_tokens if policy else None,
                            icl_token_budget=ctx.icl_token_budget, document_template=ctx.prompt("ICL_DOCUMENT"),
                            example_template=ctx.prompt("ICL_EXAMPLE"), out_dir=Path(ctx.run_dir) / "sft",
                            recipe=ctx.sft_recipe, min_similarity=ctx.knn_min_similarity)
    return {"updated": updated}


@node("evaluate")
def evaluate(state: State, ctx: Context) -> dict:
    """Original vs updated policy on the held-out instructions: verifier if possible, else judge."""
    from graph.heldout import measure

    if not ctx.measure:
        return {"evaluation": {"skipped": "measure=false: the caller measures the update itself"}}
    return {"evaluation": measure(ctx, state.get("held_out") or [], state["updated"],
                                  original=state.get("original_answers"))}


@node("report")
def report(state: State, ctx: Context) -> dict:
    """report.json, report.md and trajectory.json in the run directory."""
    from graph.report import build_report, write_run

    rep = build_report(state, ctx, state.get("timings") or {})
    write_run(state, rep, Path(ctx.run_dir))
    return {"report": rep}


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
