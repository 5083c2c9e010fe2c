"""What every graph node shares: the run's Context from the LangGraph runtime, timing, and the
one way a run loads a model (with its dtype and the generation cache)."""

from __future__ import annotations

from graph.context import Context


def load_model(ctx: Context, spec: str):
    """The model ``spec`` as this run uses it (its dtype, behind the generation cache unless
    ``generation_cache`` is off): every graph and every tool loads models here."""
    from tools.base import load_model as load

    return load(ctx, spec)


def context_of(runtime) -> Context:
    """The run's Context from a node's runtime; a host app may pass a dict of settings or nothing."""
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, Context):
        return ctx
    if isinstance(ctx, dict):
        return Context.build(ctx)
    return Context()


def node(stage: str):
    """A graph node from ``fn(state, ctx) -> update``: the node reads the run's Context from the
    LangGraph runtime and adds the seconds it took to ``timings[stage]``."""
    import functools
    import time

    from langgraph.runtime import Runtime

    def wrap(fn):
        def run(state, runtime: Runtime[Context]) -> dict:
            t0 = time.perf_counter()
            out = fn(state, context_of(runtime)) or {}
            return {**out, "timings": {stage: time.perf_counter() - t0}}

        functools.update_wrapper(run, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        del run.__wrapped__  # LangGraph reads the signature: it must see ``runtime``, not fn's ``ctx``
        return run

    return wrap
