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
                       history: list[dict] | None = None) -> list[dict]:
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
    if retry_error:
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
