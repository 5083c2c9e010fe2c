"""The optimizer's chat: the ADS trajectory prompt with the API list, a two-shot example, the task."""

from __future__ import annotations

from graph.context import Context
from tools.table import api_lines

EXAMPLES = ("A", "B", "C")


def example_names(ctx: Context) -> tuple[str, str]:
    """The (task, reply) prompt names of the example with calls this run shows (rotated by seed)."""
    key = EXAMPLES[ctx.seed % len(EXAMPLES)]
    return f"OPTIMIZER_EXAMPLE_{key}", f"OPTIMIZER_EXAMPLE_{key}_REPLY"


def optimizer_messages(ctx: Context, description: str | None, observed: list[str],
                       retry_error: str | None = None, competence: list[dict] | None = None,
                       history: list[dict] | None = None, copied: list[str] | None = None,
                       checks: list[str] | None = None, prices: dict | None = None) -> list[dict]:
    """The optimizer's chat. The task's name is never shown (a file name was copied as a query);
    its description is, when it has one. In a run of several rounds the task turn also shows the
    policy's current answers to the observed instructions (``competence``) and the rounds so far.
    ``prices``: an API's price in words where this run does not price it per call (``api_lines``)."""
    system = ctx.prompt("OPTIMIZER_SYSTEM").format(apis=api_lines(ctx.costs, ctx.apis, prices), max_calls=ctx.max_calls,
                                                   max_cost=ctx.max_cost)
    ask = ctx.prompt("OPTIMIZER_TASK").format(
        description=description or ctx.prompt("OPTIMIZER_NO_DESCRIPTION"),
        instructions="\n".join(f"{i}. {text}" for i, text in enumerate(observed, 1)))
    if competence:
        ask += ctx.prompt("OPTIMIZER_COMPETENCE").format(answers="\n".join(
            f"{i}. {' '.join(c['answer'].split())[:300] or '(no answer)'}" for i, c in enumerate(competence, 1)))
    if history:
        ask += ctx.prompt("OPTIMIZER_HISTORY").format(round=len(history) + 1, rounds="\n".join(
            f"- round {h['round'] + 1}: {', '.join(h['calls']) or 'no calls'} (cost {h['cost']:g}); "
            f"{h['metric']} on validation items {h['validation_score']:.2f} ({h['gain']:+.2f})" for h in history))
    if checks:
        ask += ctx.prompt("OPTIMIZER_CHECKS").format(checks="\n".join(f"- {c}" for c in checks))
    if copied:
        ask += ctx.prompt("OPTIMIZER_COPIED").format(calls=", ".join(copied))
    elif retry_error:
        ask += ctx.prompt("OPTIMIZER_RETRY").format(error=retry_error)
    example, reply = example_names(ctx)
    return [
        {"role": "system", "content": system},
        # the example with calls comes last: small optimizers lean on the most recent example
        {"role": "user", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NO_DATA")},
        {"role": "assistant", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NO_DATA_REPLY")},
        {"role": "user", "content": ctx.prompt(example)},
        {"role": "assistant", "content": ctx.prompt(reply)},
        {"role": "user", "content": ask},
    ]


_STOP = frozenset("""a an and are about answer any ask asks been being both but can could data does each every explain
explaining facts first from give have how into its more most need needs only other over policy practice question
questions should some such than that their them then there these they this those through what when where which who
will with would write your""".split())


def _words(text: str) -> set[str]:
    import re

    return {w for w in re.findall(r"[a-z][a-z'-]+", str(text).lower()) if len(w) > 3 and w not in _STOP}


def copied_calls(ctx: Context, calls: list[tuple[str, str]], observed: list[str], description: str | None) -> list[tuple[str, str]]:
    """Calls whose argument comes from the prompt's examples and from neither the task's description
    nor its observed instructions: an example's own argument, or words of the examples only."""
    from tools.parse import parse_api_calls

    def norm(text: str) -> str:
        return " ".join(str(text).replace("_", " ").replace("-", " ").lower().split())

    example_args, example_words = set(), set()
    for name in EXAMPLES + ("NO_DATA",):
        for part in (ctx.prompt(f"OPTIMIZER_EXAMPLE_{name}"), ctx.prompt(f"OPTIMIZER_EXAMPLE_{name}_REPLY")):
            example_words |= _words(part)
        example_args |= {norm(arg) for _, arg in parse_api_calls(ctx.prompt(f"OPTIMIZER_EXAMPLE_{name}_REPLY")).calls}
    task_words = _words(" ".join([description or "", *observed]))
    out = []
    for name, arg in calls:
        words = _words(arg)
        if norm(arg) in example_args and not words <= task_words or (words & example_words and not words & task_words):
            out.append((name, arg))
    return out


def suspicious_calls(ctx: Context, calls: list[dict], task_name: str | None) -> list[dict]:
    """Calls whose argument is the task's name (or its slug) or an argument of an example call:
    signs the optimizer copied instead of planning."""
    from tools.parse import parse_api_calls

    def norm(text: str) -> str:
        return " ".join(str(text).replace("_", " ").replace("-", " ").lower().split())

    example_args = {norm(arg) for name in EXAMPLES
                    for _, arg in parse_api_calls(ctx.prompt(f"OPTIMIZER_EXAMPLE_{name}_REPLY")).calls}
    flags = []
    for c in calls:
        if task_name and norm(c["arg"]) == norm(task_name):
            flags.append({**c, "flag": "the argument is the task's name"})
        elif norm(c["arg"]) in example_args:
            flags.append({**c, "flag": "the argument is copied from an example in the optimizer's prompt"})
    return flags


# ---- the optimizer's plan ---------------------------------------------------------------

def items_carry_answers(held_out: list) -> bool:
    """Whether the task's held-out items are facts with answers (a knowledge task). What the graph
    reads of them is only that they carry answers, never their questions."""
    from scoring.verify import verifier_of

    items = [h for h in held_out if isinstance(h, dict)]
    return bool(items) and all(verifier_of(h) in ("qa", "math") for h in items)


def items_carry_checks(held_out: list) -> bool:
    """Whether the task says what a good answer is: every held-out item carries IFEval checks."""
    items = [h for h in held_out if isinstance(h, dict)]
    return bool(items) and all(h.get("checks") for h in items)


# The prompt the optimizer anticipates with, by task kind, and the longest question it may write
# (a knowledge task's questions; a task with checks gets whole instructions, TASK_AUGMENT_PROMPT).
ANTICIPATION_PROMPTS = {"knowledge": ("OPTIMIZER_ANTICIPATE", 30), "checks": ("TASK_AUGMENT_PROMPT", 80)}

# What the optimizer writes in place of a question when it anticipates nothing (refine can teach it
# this: a chosen trajectory that bought no anticipated question). Never a call: it is dropped.
NOTHING_ANTICIPATED = "none"


def anticipation_prompt(ctx: Context, state: dict) -> dict | None:
    """The prompt the optimizer is asked to anticipate with on this task (the observed instructions
    as numbered blocks, in order), or None where it does not anticipate (``anticipate`` 0, or a
    task whose held-out items carry neither answers nor checks): ``{"message", "prefix"}``, the
    user turn and the start of the reply (``N. Instruction:``) the optimizer continues."""
    from tools.self_instruct import encode_prompt

    if ctx.anticipate <= 0 or not anticipates(state) or not state.get("observed"):
        return None
    name, _ = ANTICIPATION_PROMPTS[task_kind(state)]
    message, prefix = encode_prompt([{"instruction": o} for o in state["observed"]], ctx.prompt(name))
    return {"message": message, "prefix": prefix}


def anticipation_block(prompt: dict, question: str) -> dict:
    """A training row: the anticipation prompt -> the numbered block holding ``question`` (the one its
    reply prefix opens), in the format ``anticipate`` reads back."""
    from tools.self_instruct import encode_block

    n = int(prompt["prefix"].split(".")[0])
    return {"prompt": [{"role": "user", "content": prompt["message"]}], "completion": encode_block(n, question) + "###"}


def anticipated_written(anticipated: dict | None) -> list[str]:
    """The questions the optimizer anticipated and the plan kept, as it wrote them (a task with
    checks states them after each: that is not the optimizer's writing)."""
    anticipated = anticipated or {}
    # runs from before "written" was kept: a knowledge task's questions are as written
    return list(anticipated.get("written") or ([] if "checks" in anticipated else anticipated.get("questions") or []))


def plan_calls(ctx: Context, observed: list[str], anticipated: list[str], own: list[tuple[str, str]],
               kind: str | None) -> list[tuple[str, str]]:
    """The optimizer's plan. On a knowledge task (``kind`` "knowledge": items carry answers) the
    retrieval rule's calls (each observed instruction), then its anticipated questions (with
    ``anticipated_queries=expand``, appended to the rule's queries instead: ``expand_queries``); on a
    task with checks ("checks") verified demonstrations of each observed instruction, then of its
    anticipated ones; then the calls of its own reply. Elsewhere its own calls only. Repeats are
    dropped; the budget is applied after."""
    api = {"knowledge": "information_retrieval", "checks": "demonstration_generation"}.get(kind or "")
    plan: list[tuple[str, str]] = []
    if api and api in ctx.apis:
        if kind == "knowledge" and ctx.plan_observed and ctx.anticipated_queries == "expand" and observed:
            queries, alone = expand_queries(observed, anticipated, ctx.max_arg_chars)
            plan += [(api, q) for q in queries + alone]
        else:
            if ctx.plan_observed:
                plan += [(api, o) for o in observed]
            plan += [(api, q) for q in anticipated]
    seen, out = set(), []
    for name, arg in plan + list(own):
        key = (name, " ".join(arg.split()).casefold())
        if key not in seen:
            seen.add(key)
            out.append((name, arg))
    return out


def plan_before_reply(ctx: Context, state: dict) -> list[tuple[str, str]]:
    """The calls the optimizer's plan makes before its reply is read (``plan_calls`` with no call
    of its own): in the first round the observed instructions' and the anticipated ones'."""
    first = state.get("round", 0) == 0
    anticipated = ((state.get("anticipated") or {}).get("questions") or []) if first else []
    return plan_calls(ctx, list(state.get("observed") or []) if first else [], anticipated, [], task_kind(state))


def reply_has_room(ctx: Context, state: dict) -> bool:
    """Whether a reply could buy anything: the plan before it is shorter than ``max_calls``. Where it
    is not (the defaults on a knowledge task or a task with checks: 3 observed + 3 anticipated = 6
    calls), the run does not ask for the reply and refine does not train one."""
    return len(plan_before_reply(ctx, state)) < ctx.max_calls


def expand_queries(observed: list[str], anticipated: list[str], max_chars: int) -> tuple[list[str], list[str]]:
    """Query expansion: each anticipated question appended to the observed instruction most like it
    (ROUGE-L F; the first on a tie), so a plan of one call per observed instruction retrieves toward
    what the optimizer anticipates. Returns (one query per observed instruction, in their order;
    the anticipated questions that would take their query past ``max_chars``, to be asked alone)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    queries, alone = list(observed), []
    for q in anticipated:
        i = max(range(len(observed)), key=lambda j: (scorer.score(observed[j], q)["rougeL"].fmeasure, -j))
        longer = f"{queries[i]} {q}"
        if len(longer) <= max_chars:
            queries[i] = longer
        else:
            alone.append(q)
    return queries, alone


def anticipates(state: dict) -> bool:
    """Whether the optimizer anticipates on this task: a knowledge task, or a task with checks it
    can attach to what it writes (the task's own, or its observed instructions')."""
    kind = task_kind(state)
    return kind == "knowledge" or (kind == "checks" and bool(state.get("checks") or state.get("observed_checks")))


def task_kind(state: dict) -> str | None:
    """"knowledge" (held-out items carry answers), "checks" (they carry IFEval checks) or None."""
    held = state.get("held_out") or []
    return "knowledge" if items_carry_answers(held) else "checks" if items_carry_checks(held) else None
