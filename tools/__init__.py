"""The data-collecting APIs the optimizer calls: retrieval, demonstrations, QA, memory search.

``call_tool(name, arg, ctx)`` is the one way to run a call (the LangGraph tools, the CLI and the
graph all go through it). It checks the argument, answers from the persistent cache when it can,
and records tool, argument, cost, latency, tokens and provenance on a ``ToolResult``. A failure
of any kind comes back as ``ToolResult.error``; it never raises and never returns silently empty.
"""

from __future__ import annotations

from .base import ToolError, ToolResult
from .call import call_tool
from .table import ALIASES, API, APIS, ARG_NAMES, COSTS, TOOL_NAMES, api_lines, resolve


def __getattr__(attr: str):
    # TOOLS imports langchain/langgraph; build it on first use so `import tools` stays light.
    if attr == "TOOLS":
        from .lc import TOOLS

        return TOOLS
    raise AttributeError(f"module 'tools' has no attribute {attr!r}")


__all__ = ["ALIASES", "API", "APIS", "ARG_NAMES", "COSTS", "TOOLS", "TOOL_NAMES", "ToolError", "ToolResult",
           "api_lines", "call_tool", "resolve"]
