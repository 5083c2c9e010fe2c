"""The data-collecting APIs the optimizer calls: retrieval, demonstrations, QA, memory search.

``call_tool(name, arg, ctx)`` is the one way to run a call (the LangGraph tools, the CLI and the
graph all go through it). It checks the argument, answers from the persistent cache when it can,
and records tool, argument, cost, latency, tokens and provenance on a ``ToolResult``. A failure
of any kind comes back as ``ToolResult.error``; it never raises and never returns silently empty.
"""

from __future__ import annotations

import time
from types import ModuleType

from .base import ToolError, ToolOutput, ToolResult

# Costs of the ADS paper; Context.costs overrides them per run.
COSTS = {"information_retrieval": 1.0, "demonstration_generation": 2.0, "question_answering": 3.0, "memory_search": 1.0}
TOOL_NAMES = list(COSTS)

# What an optimizer (or a user) may call each API; matching ignores case, spaces and dashes.
ALIASES = {
    "retrieve_information": "information_retrieval", "retrieval": "information_retrieval",
    "retrieve": "information_retrieval", "search": "information_retrieval", "wikipedia": "information_retrieval",
    "get_instances": "demonstration_generation", "generate_demonstrations": "demonstration_generation",
    "demonstrations": "demonstration_generation", "demonstration": "demonstration_generation",
    "ask_question": "question_answering", "ask": "question_answering", "qa": "question_answering",
    "answer_question": "question_answering",
    "search_memory": "memory_search", "memory": "memory_search", "memory_bank": "memory_search",
}

ARG_NAMES = {"information_retrieval": "query", "demonstration_generation": "topic",
             "question_answering": "question", "memory_search": "query"}


def resolve(name: str) -> str | None:
    """Our name for ``name`` (an API name or an alias), or None."""
    key = "_".join(str(name).strip().lower().replace("-", " ").split())
    return key if key in COSTS else ALIASES.get(key)


def _impl(tool: str) -> ModuleType:
    from . import demonstrations, memory_search, qa, retrieval

    return {"information_retrieval": retrieval, "demonstration_generation": demonstrations,
            "question_answering": qa, "memory_search": memory_search}[tool]


def call_tool(name: str, arg: str, ctx=None) -> ToolResult:
    """Run one API call as the graph does; every failure is in ``.error``."""
    from graph.context import Context

    from .cache import ToolCache, normalize_arg

    t0 = time.perf_counter()
    ctx = ctx if ctx is not None else Context()
    tool = resolve(name)
    result = ToolResult(tool=tool or str(name), arg=arg if isinstance(arg, str) else repr(arg))
    try:
        if tool is None:
            raise ToolError(f"unknown tool '{name}'; the tools are: {', '.join(TOOL_NAMES)}")
        result.cost = float(ctx.costs.get(tool, COSTS[tool]))
        if not isinstance(arg, str) or not arg.strip():
            raise ToolError(f"empty argument: {tool} needs a {ARG_NAMES[tool]}, e.g. {tool}(\"Mona Lisa\")")
        if len(arg) > ctx.max_arg_chars:
            raise ToolError(f"argument of {len(arg)} characters is longer than the limit of {ctx.max_arg_chars} "
                            f"(Context.max_arg_chars): give {tool} one short {ARG_NAMES[tool]}")
        arg = arg.strip()
        impl = _impl(tool)
        parts = None
        if ctx.tool_cache and getattr(impl, "CACHEABLE", True):
            parts = {"tool": tool, "arg": normalize_arg(arg), "seed": ctx.seed, **impl.cache_parts(arg, ctx)}
            hit = ToolCache(ctx.cache_path).get(parts)
            if hit is not None:
                result.rows, result.provenance, result.tokens = hit["rows"], hit["provenance"], hit["tokens"]
                result.cached = True
                return result
        out: ToolOutput = impl.run(arg, ctx)
        result.rows = [{**r, "source": tool} for r in out.rows]
        result.provenance, result.tokens = out.provenance, out.tokens
        if parts is not None:
            ToolCache(ctx.cache_path).put(parts, {"rows": result.rows, "provenance": result.provenance,
                                                  "tokens": result.tokens})
    except ToolError as e:
        result.error, result.provenance, result.tokens = str(e), e.provenance, e.tokens
    except Exception as e:  # a failing backend (model, corpus, Chroma) is the graph's tool error, not a crash
        result.error = f"{type(e).__name__}: {e}"
    finally:
        result.latency_s = round(time.perf_counter() - t0, 4)
    return result


def __getattr__(attr: str):
    # TOOLS imports langchain/langgraph; build it on first use so `import tools` stays light.
    if attr == "TOOLS":
        from .lc import TOOLS

        return TOOLS
    raise AttributeError(f"module 'tools' has no attribute {attr!r}")


__all__ = ["ALIASES", "COSTS", "TOOLS", "TOOL_NAMES", "ToolError", "ToolResult", "call_tool", "resolve"]
