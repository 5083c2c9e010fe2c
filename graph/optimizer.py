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
                       checks: list[str] | None = None) -> list[dict]:
    """The optimizer's chat. The task's name is never shown (a file name was copied as a query);
    its description is, when it has one. In a run of several rounds the task turn also shows the
    policy's current answers to the observed instructions (``competence``) and the rounds so far."""
    system = ctx.prompt("OPTIMIZER_SYSTEM").format(apis=api_lines(ctx.costs, ctx.apis), max_calls=ctx.max_calls,
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
