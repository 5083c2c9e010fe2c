"""The gathering half of the improve graph: the optimizer plans (analyse, parse), the calls run
(tools), and the gathered rows are scored for curation (judge, ifd). Round-aware: with
``Context.rounds`` > 1 the optimizer of each round also sees the policy's current answers to the
observed instructions and what earlier rounds bought and gained (``competence``), and each round
appends its calls to the run's.
"""

from __future__ import annotations

import re
import time

from langgraph.types import interrupt

import llms
from graph.context import Context
from graph.improve.state import State, cost_of
from graph.judging import judge_questions
from graph.nodes import load_model, node
from graph.optimizer import (
    ANTICIPATION_PROMPTS,
    NOTHING_ANTICIPATED,
    anticipates,
    items_carry_answers,
    plan_before_reply,
    plan_calls,
    reply_has_room,
    task_kind,
)


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


def retrieval_k(ctx: Context, state: State) -> int:
    """Passages an information_retrieval call of this run returns (``Context.retrieval_k``; its
    auto value is the knowledge one where the held-out items carry answers and the update is
    icl-knn, which picks each question's rows from the breadth; LoRA SFT on hundreds of passages
    would train for hours on a CPU and ``icl`` packs only what fits its budget)."""
    from tools.retrieval import passages_per_call

    return passages_per_call(ctx, knowledge=knowledge_update(ctx, state))


def knowledge_update(ctx: Context, state: State) -> bool:
    """Whether this run is a knowledge task under icl-knn (held-out items carry answers): where the
    breadth and the passage budget have their knowledge auto values."""
    return update_kind(ctx, state) == "icl-knn" and items_carry_answers(state.get("held_out") or [])


def passage_budget(ctx: Context, state: State) -> int:
    """Passages this run's retrieval calls share (0: none, each call returns ``retrieval_k``):
    ``Context.passage_budget``, whose auto value on a knowledge task is the retrieval rule's
    passages (one call of ``retrieval_k`` per observed instruction)."""
    if ctx.passage_budget is not None:
        return ctx.passage_budget
    if not knowledge_update(ctx, state):
        return 0
    from tools.retrieval import passages_per_call

    return len(state.get("observed") or []) * passages_per_call(ctx, knowledge=True)


def split_passages(ctx: Context, state: State, calls: list[dict]) -> list[dict]:
    """The planned calls with the passage budget spread evenly over their retrieval calls: each
    gets ``k`` (passages it returns: its share, at most ``retrieval_k``, so a plan of fewer calls
    than the rule buys less) and a cost per passage (its price x k / retrieval_k)."""
    budget = passage_budget(ctx, state)
    n = sum(c["name"] == "information_retrieval" for c in calls)
    if not budget or not n:
        return calls
    breadth = retrieval_k(ctx, state)
    k = max(1, min(breadth, budget // n))
    price = float(ctx.costs.get("information_retrieval", 1.0))
    return [{**c, "k": k, "cost": price * k / breadth} if c["name"] == "information_retrieval" else c
            for c in calls]


def cost_rule(ctx: Context, state: State) -> str:
    """The cost rule of this run, in words (the report states it)."""
    calls = [c for c in state.get("calls") or [] if c["name"] == "information_retrieval" and "k" in c]
    budget = passage_budget(ctx, state)
    if budget and calls:
        return (f"per passage: an information_retrieval call costs its price x its passages / {retrieval_k(ctx, state)} "
                f"(the run's {budget} passages split over its retrieval calls: "
                f"{', '.join(str(c['k']) for c in calls)}); other calls cost their API's price (Context.costs)")
    return ("per call: each call costs its API's price (Context.costs), whatever it returns "
            f"(information_retrieval returns {retrieval_k(ctx, state)} passage(s) a call)")


def retrieval_price(ctx: Context, state: State) -> str | None:
    """information_retrieval's price as the optimizer reads it where this run prices it per passage
    (a passage budget: every retrieval call of the plan shares the budget and its cost, however
    many calls it makes); None where each call costs its price (the API list shows that)."""
    budget = passage_budget(ctx, state)
    if not budget:
        return None
    price = float(ctx.costs.get("information_retrieval", 1.0)) * budget / retrieval_k(ctx, state)
    return (f"cost {price:g} in all, however many calls: this run's information_retrieval calls share "
            f"{budget} passages between them")


def optimizer_chat(ctx: Context, state: State, *, retry_error: str | None = None,
                   copied: list[str] | None = None) -> list[dict]:
    """The optimizer's chat for this run's state as ``analyse`` asks it (refine trains on the same
    chat): the task, its checks in words on a task with checks, its competence and history in runs
    of several rounds, and the run's own prices."""
    from graph.optimizer import optimizer_messages

    price = retrieval_price(ctx, state)
    return optimizer_messages(ctx, state.get("description"), state["observed"], retry_error=retry_error, copied=copied,
                              checks=describe(task_checks(state)) if task_kind(state) == "checks" else None,
                              competence=state.get("competence") if ctx.rounds > 1 else None,
                              history=state.get("rounds") or [],
                              prices={"information_retrieval": price} if price else None)


def task_checks(state: State) -> list[dict]:
    """Every check the task's answers must pass (its own, and those of its observed instructions)."""
    out = list(state.get("checks") or [])
    for checks in (state.get("observed_checks") or {}).values():
        out += [c for c in checks if c not in out]
    return out


def carries_checks(state: State) -> bool:
    """Whether the task says what a good answer is: checks on the task or its observed
    instructions (the verified data), or on every held-out item."""
    from graph.optimizer import items_carry_checks

    return bool(task_checks(state)) or items_carry_checks(state.get("held_out") or [])


def update_kind(ctx: Context, state: State) -> str:
    """The update this run makes: ``Context.update``, where ``auto`` is sft on a task with checks
    (verified rows teach a form the policy never wrote: IFEval validation +12.1 points against
    icl-knn's +3.0) and icl-knn otherwise (docs/results.md)."""
    if ctx.update != "auto":
        return ctx.update
    return "sft" if carries_checks(state) else "icl-knn"


def sft_recipe(ctx: Context, state: State) -> str | None:
    """The LoRA SFT recipe of this run: ``Context.sft_recipe``, else the small-set recipe on a task
    with checks (its shipped default took 7 steps on 18 rows and taught nothing) and the
    trainer's default otherwise."""
    from trainers.recipe import sft_recipe_for

    return sft_recipe_for(ctx.sft_recipe, checks=carries_checks(state))


def checks_for(state: State, instruction: str) -> list[dict]:
    """The checks an answer to ``instruction`` must pass: an observed instruction's own, an
    anticipated instruction's (see ``attach_checks``), else the task's."""
    return ((state.get("observed_checks") or {}).get(instruction)
            or ((state.get("anticipated") or {}).get("checks") or {}).get(instruction)
            or list(state.get("checks") or []))


def attach_checks(anticipated: list[str], observed_checks: dict[str, list[dict]], shared: list[dict], *,
                  only_type: bool = False) -> dict[str, list[dict]]:
    """On a task whose observed instructions carry checks: each anticipated instruction (written in
    their style) takes the checks of the observed instruction most like it (ROUGE-L), stated after it
    in IFEval's own words where it does not already say them, plus the task's own checks.
    ``only_type`` (``anticipated_checks=type``): of the nearest's checks, only the ids every usable
    observed instruction carries (the nearest's whole set where they share none).
    {instruction as it will be asked: its checks}; a set IFEval cannot state in words is not used."""
    from rouge_score import rouge_scorer

    from scoring.verify import state_checks, with_checks

    usable = {o: c for o, c in observed_checks.items() if state_checks(c) is not None}
    if not usable:
        return {q: list(shared) for q in anticipated} if shared else {}
    common = set.intersection(*({c.get("id") for c in cs} for cs in usable.values())) if only_type else set()
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    out = {}
    for q in anticipated:
        nearest = max(usable, key=lambda o: scorer.score(o, q)["rougeL"].fmeasure)
        own = [c for c in usable[nearest] if c.get("id") in common] or usable[nearest]
        out[with_checks(q, own)] = own + [c for c in shared if c not in own]
    return out


# A small model runs on past its block: "... capital of usa\n4. Output: <noinput>" or "... 5. Instruction: ...";
# or writes nothing but the next block's marker ("4. Input: <noinput>"), which leaves nothing of its own.
_NEXT_BLOCK = re.compile(r"(?:\s\d+\.\s*|^\s*\d+\.\s*|^\s*|\n\s*)(?:Instruction|Input|Output|Question|Answer)\s*:.*$",
                         re.DOTALL | re.IGNORECASE)


def own_text(instruction: str) -> str:
    """What the optimizer wrote for one block, up to where it ran on into the next (a numbered
    ``N. Output:`` / ``N. Instruction:`` marker, or one opening a line), whitespace collapsed."""
    return " ".join(_NEXT_BLOCK.sub("", instruction).split())


# Self-Instruct's marker of an instruction without input: a question holding it is the optimizer
# running on into the block's input field ("<noinput> A: To answer your question about ...")
NO_INPUT = "<noinput>"
# the reason an anticipated question under anticipate_min_similarity is dropped (the report lists them)
OFF_TOPIC = "off the task's topic"


def anticipate(ctx: Context, observed: list[str], prompt: str = "OPTIMIZER_ANTICIPATE", max_words: int = 30, *,
               n: int | None = None, seed: int | None = None, exclude: list[str] = (), on_topic: float = 0.0) -> dict:
    """Questions the task is likely to ask besides the observed ones, written by the optimizer in
    their style (Self-Instruct's generator and ROUGE-L filter, as ``tasks build --augment``; seeded,
    so a re-run reads them from the generation cache). It never sees a held-out item. ``n`` (default
    ``Context.anticipate``) are kept; ``exclude``: texts a kept one may not be close to besides the
    observed ones (the gate's instructions stay clear of those the run bought). Where most of the
    3n samples are ``none``, the optimizer anticipates nothing (one decision: a few questions among
    mostly ``none`` are not bought). ``on_topic``: a question whose embedding cosine to every observed
    instruction is below it is dropped as off the task's topic (a knowledge task's
    ``Context.anticipate_min_similarity``), so the next sample on the topic takes its place."""
    from tools.self_instruct import generate_instructions, rouge_filter

    n = ctx.anticipate if n is None else n
    if n <= 0 or not observed:
        return {"questions": [], "generated": 0, "dropped": []}
    pool = [{"instruction": o} for o in observed]
    cands = generate_instructions(load_model(ctx, ctx.optimizer), pool, n=3 * n,
                                  prompt=ctx.prompt(prompt), examples_per_prompt=len(pool),
                                  temperature=0.8, seed=ctx.seed if seed is None else seed, batch_size=ctx.batch_size,
                                  max_new_tokens=48 if max_words <= 30 else 2 * max_words)
    texts, dropped, nothing = [], [], 0
    for text in (own_text(c["instruction"]) for c in cands):
        words = len(text.split())
        if text.casefold().strip(" .") == NOTHING_ANTICIPATED:
            nothing += 1
            dropped.append((text, "the optimizer anticipated nothing"))
        elif not 3 <= words <= max_words or len(text) > ctx.max_arg_chars:
            dropped.append((text, f"{words} words: not one short {'question' if max_words <= 30 else 'instruction'}"))
        elif NO_INPUT in text.casefold():
            dropped.append((text, f"holds the generator's {NO_INPUT} marker: the optimizer ran on into a block's input"))
        else:
            texts.append(text)
    if nothing and 2 * nothing > len(cands):
        # one decision, not the survivors of 3n samples: most samples saying "none" is an optimizer
        # anticipating nothing (what refine teaches where the rule's plan won), so no question is bought
        why = f"most samples ({nothing} of {len(cands)}) anticipated nothing"
        return {"questions": [], "written": [], "prompt": prompt, "generated": len(cands),
                "dropped": [{"question": t, "reason": r} for t, r in dropped + [(t, why) for t in texts]]}
    kept, near = rouge_filter(list(dict.fromkeys(texts)), list(observed) + list(exclude))
    off = []
    if on_topic > 0 and kept:
        from graph.improve.curate import relevance_scores
        from llms.embeddings import load_embedder

        sims = relevance_scores([{"instruction": t} for t in kept], observed, load_embedder(ctx.embedder).encode)
        off = [(t, f"{OFF_TOPIC}: similarity {s:.2f} to the nearest observed instruction, under "
                   f"anticipate_min_similarity {on_topic:g}") for t, s in zip(kept, sims) if s < on_topic]
        kept = [t for t, s in zip(kept, sims) if s >= on_topic]
    kept, more = kept[:n], [(t, f"more than the {n} wanted") for t in kept[n:]]
    return {"questions": kept, "written": list(kept), "prompt": prompt, "generated": len(cands),
            "dropped": [{"question": t, "reason": why} for t, why in dropped + near + off + more]}



def describe(checks: list[dict]) -> list[str]:
    from scoring.verify import describe_checks

    return describe_checks(checks)


def as_pair(row: dict) -> dict:
    """A row as an instruction-response pair for the judge: a document answers "tell me about <title>"."""
    if row.get("type") == "document" or "instruction" not in row:
        topic = row.get("title") or (row.get("provenance") or {}).get("arg") or "this topic"
        return {"instruction": f"Give accurate information about {topic}.", "response": row.get("text") or ""}
    return row



def this_round(entries: list[dict] | None, state: State) -> list[dict]:
    r = state.get("round", 0)
    return [e for e in entries or [] if e.get("round", 0) == r]


# ---- nodes ------------------------------------------------------------------------------

@node("analyse")
def analyse(state: State, ctx: Context) -> dict:
    """The optimizer reads the observed instructions and writes its analysis and API calls."""
    # the chat the optimizer is asked first (refine trains a chosen reply on it): kept once, with a
    # fixed plan too (the chat the optimizer would have been asked)
    asked = {"optimizer_chat": optimizer_chat(ctx, state)} if state.get("optimizer_chat") is None else {}
    if state.get("plan") is not None:  # fixed calls: written in the optimizer's format, nobody is asked
        calls = "".join(f'<api>{c["name"]}("{c["arg"]}")</api>' for c in state["plan"]) or "none"
        return {**asked, "optimizer_replies": [{"round": state.get("round", 0), "attempt": 0, "fixed_plan": True,
                                                "text": f"<api_calls>{calls}</api_calls>", "seconds": 0.0,
                                                "prompt_tokens": 0, "completion_tokens": 0}]}
    t0 = time.perf_counter()
    r = state.get("round", 0)
    attempt = len(this_round(state.get("optimizer_replies"), state))
    out: dict = dict(asked)
    kind = task_kind(state)
    if r == 0 and attempt == 0 and state.get("anticipated") is None:
        # anticipated instructions of a task with checks carry checks: the task's own, or those of
        # the observed instruction most like them (attach_checks)
        on_topic = ctx.anticipate_min_similarity if kind == "knowledge" else 0.0
        found = anticipate(ctx, state["observed"], *ANTICIPATION_PROMPTS[kind], on_topic=on_topic) if anticipates(state) else \
            {"questions": [], "generated": 0, "dropped": []}
        out["anticipated"] = found
        if kind == "checks":
            attached = attach_checks(found["questions"], state.get("observed_checks") or {}, list(state.get("checks") or []),
                                     only_type=ctx.anticipated_checks == "type")
            out["anticipated"] = {**found, "questions": list(attached), "checks": attached}
    if attempt == 0 and not reply_has_room(ctx, {**state, **out}):  # nothing the reply said could be bought
        n = len(plan_before_reply(ctx, {**state, **out}))
        return {**out, "optimizer_replies": [{
            "round": r, "attempt": 0, "text": "<api_calls>none</api_calls>", "seconds": round(time.perf_counter() - t0, 3),
            "prompt_tokens": 0, "completion_tokens": 0,
            "not_asked": f"the plan's {n} calls (the observed and anticipated instructions) fill max_calls "
                         f"({ctx.max_calls}): a reply could buy nothing; raise max_calls to let it add calls"}]}
    last = this_round(state.get("parse_log"), state)[-1] if attempt else {}
    messages = optimizer_chat(ctx, state, retry_error="; ".join(last.get("errors") or []) or None,
                              copied=[f"{n}({a!r})" for n, a in last.get("copied") or []] or None)
    # a retry of a greedy reply would repeat it word for word: retries sample, seeded
    first = ctx.temperature if ctx.optimizer_temperature is None else ctx.optimizer_temperature
    temperature = first if attempt == 0 else max(first, 0.7)
    gen = load_model(ctx, ctx.optimizer).generate(
        [messages], llms.SamplingParams(max_new_tokens=ctx.max_new_tokens, temperature=temperature,
                                        seed=ctx.seed + attempt + 1000 * r))[0][0]
    return {**out, "optimizer_replies": [{"round": r, "attempt": attempt, "text": gen.text, "finish_reason": gen.finish_reason,
                                          "seconds": round(time.perf_counter() - t0, 3),
                                          "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}]}


@node("parse")
def parse(state: State, ctx: Context) -> dict:
    """Tool calls from the last reply; retried while unparsable, then recorded; budget applied."""
    from graph.optimizer import copied_calls
    from tools.parse import parse_api_calls, within_budget

    reply = state["optimizer_replies"][-1]
    parsed = parse_api_calls(reply["text"], names=ctx.apis, cut_off=reply.get("finish_reason") == "length")
    attempt, r = reply["attempt"], reply.get("round", 0)
    copied = [] if reply.get("fixed_plan") else copied_calls(ctx, parsed.calls, state["observed"], state.get("description"))
    retry = (not parsed.ok or bool(copied)) and attempt < ctx.parse_retries
    log = {"round": r, "attempt": attempt, "ok": parsed.ok, "none": parsed.none, "errors": parsed.errors,
           "calls": [list(c) for c in parsed.calls], "retry": retry, "copied": [list(c) for c in copied]}
    out: dict = {"parse_log": [log]}
    if not retry:
        from graph.optimizer import suspicious_calls

        own = [c for c in parsed.calls if c not in copied]  # copied calls are never bought
        if not reply.get("fixed_plan"):
            anticipated = (state.get("anticipated") or {}).get("questions") or [] if r == 0 else []
            own = plan_calls(ctx, state["observed"] if r == 0 else [], anticipated, own, task_kind(state))
        before = state.get("calls") or []
        spent = cost_of(state.get("results"))
        # each round has the per-round budget; all rounds together stay within max_total_cost
        room = ctx.max_cost if ctx.max_total_cost is None else min(ctx.max_cost, max(ctx.max_total_cost - spent, 0.0))
        repeated = {(c["name"], c["arg"]) for c in before}
        fresh = [c for c in own if c not in repeated]
        # the budget holds what the run charges: under a passage budget the plan's retrieval calls share it
        calls, dropped = within_budget(fresh, ctx.costs, ctx.max_calls, room,
                                       price=lambda plan: cost_of(split_passages(ctx, state, plan)))
        tag = {"round": r} if ctx.rounds > 1 else {}
        calls = split_passages(ctx, state, [{**c, "index": c["index"] + len(before), **tag} for c in calls])
        dropped += [{"name": n, "arg": a, "cost": float(ctx.costs.get(n, 1.0)), "reason": "bought in an earlier round"}
                    for n, a in own if (n, a) in repeated]
        dropped += [{"name": n, "arg": a, "cost": float(ctx.costs.get(n, 1.0)),
                     "reason": "copied from an example in the optimizer's prompt, not from this task (not bought)"}
                    for n, a in copied]
        out["calls"] = before + calls
        if not reply.get("fixed_plan"):
            log["flags"] = suspicious_calls(ctx, calls, state.get("task"))
        out["dropped"] = (state.get("dropped") or []) + [{**d, **tag} for d in dropped] + \
            [{"reason": e, **tag} for e in parsed.errors]
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
        "cost_so_far": cost_of(done),
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


def passage_key(row: dict) -> tuple | None:
    """A retrieved passage's identity (its corpus and id); None for a row that is not one."""
    prov = row.get("provenance") or {}
    return (prov.get("corpus"), prov["passage_id"]) if row.get("type") == "document" and "passage_id" in prov else None


def bought_passages(state: State) -> set[tuple]:
    """The passages this run's finished information_retrieval calls returned (every round)."""
    return {key for r in state.get("results") or [] if r.get("tool") == "information_retrieval"
            for key in map(passage_key, r.get("rows") or []) if key is not None}


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
    bought: set[tuple] = set()
    if call["name"] == "information_retrieval" and "k" in call:  # its share of the run's passage budget
        # distinct passages: ranked deep enough that its share is left after the run's earlier passages
        bought = bought_passages(state) if ctx.distinct_passages else set()
        ctx = ctx.variant(retrieval_k=call["k"] + len(bought))
    elif call["name"] == "information_retrieval" and ctx.retrieval_k is None:  # auto: breadth where items carry answers
        ctx = ctx.variant(retrieval_k=retrieval_k(ctx, state))
    try:
        checks = checks_for(state, arg) if call["name"] == "demonstration_generation" else []
        result = (tools.call_tool(call["name"], arg, ctx, checks=checks) if checks else tools.call_tool(call["name"], arg, ctx)).to_dict()
    except Exception as e:  # a broken tool must not end the run: it becomes an error in the state
        result = {"tool": call["name"], "arg": arg, "cost": 0.0, "rows": [], "cached": False,
                  "error": f"{type(e).__name__}: {e}"}
    result = {**result, **base, "status": "error" if result.get("error") else "ok"}
    if bought and result.get("rows") is not None:
        fresh = [r for r in result["rows"] if passage_key(r) not in bought]
        result = {**result, "rows": fresh[:call["k"]], "repeats_skipped": len(result["rows"]) - len(fresh)}
    if "k" in call and result.get("cost"):  # per passage: the price of its share (an error costs what it did)
        result["cost"] = call["cost"]
    result.setdefault("latency_s", round(time.perf_counter() - t0, 3))
    return {"results": [result]}


@node("judge")
def judge(state: State, ctx: Context) -> dict:
    """The judge's 1-10 ratings of every gathered row (score 0..1), when a curation step uses them."""
    from graph.improve.curate import needed_scores
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
    from graph.improve.curate import needed_scores
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


