"""The optimizer's chat: the ADS trajectory prompt with the API list, a two-shot example, the task."""

from __future__ import annotations

from graph.context import Context
from tools.table import api_lines


def optimizer_messages(ctx: Context, task: str, observed: list[str], retry_error: str | None = None) -> list[dict]:
    system = ctx.prompt("OPTIMIZER_SYSTEM").format(apis=api_lines(ctx.costs, ctx.apis), max_calls=ctx.max_calls,
                                                   max_cost=ctx.max_cost)
    ask = ctx.prompt("OPTIMIZER_TASK").format(
        task=task, instructions="\n".join(f"{i}. {text}" for i, text in enumerate(observed, 1)))
    if retry_error:
        ask += ctx.prompt("OPTIMIZER_RETRY").format(error=retry_error)
    return [
        {"role": "system", "content": system},
        # the example with calls comes last: small optimizers lean on the most recent example
        {"role": "user", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NO_DATA")},
        {"role": "assistant", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NO_DATA_REPLY")},
        {"role": "user", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NEEDS_DATA")},
        {"role": "assistant", "content": ctx.prompt("OPTIMIZER_EXAMPLE_NEEDS_DATA_REPLY")},
        {"role": "user", "content": ask},
    ]
