"""``call_tool(name, arg, ctx)``: the one way to run an API call (the LangGraph tools, the CLI and
the graph all go through it), with the persistent tool cache."""

from __future__ import annotations

import importlib
import time
from types import ModuleType

from .base import ToolError, ToolOutput, ToolResult
from .table import ARG_NAMES, BY_NAME, COSTS, TOOL_NAMES, resolve


def _impl(tool: str) -> ModuleType:
    return importlib.import_module(f"tools.{BY_NAME[tool].module}")


def call_tool(name: str, arg: str, ctx, *, checks: list[dict] | None = None) -> ToolResult:
    """Run one API call as the graph does; every failure is in ``.error``.

    ``ctx`` is the run's settings (``graph.context.Context``, or any object with the same fields).
    ``checks``: what a good answer passes (IFEval checks of the task); a tool that takes them
    (demonstration_generation) keeps only responses that pass, the others ignore them.
    """
    from .cache import ToolCache, normalize_arg

    t0 = time.perf_counter()
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
        extra = {"checks": checks} if checks and getattr(impl, "TAKES_CHECKS", False) else {}
        parts = None
        if ctx.tool_cache and getattr(impl, "CACHEABLE", True):
            parts = {"tool": tool, "arg": normalize_arg(arg), "seed": ctx.seed, **impl.cache_parts(arg, ctx, **extra)}
            hit = ToolCache(ctx.cache_path).get(parts)
            if hit is not None:
                result.rows, result.provenance, result.tokens = hit["rows"], hit["provenance"], hit["tokens"]
                result.cached = True
                return result
        out: ToolOutput = impl.run(arg, ctx, **extra)
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
