"""The APIs as LangChain tools, derived from the table (``tools.table.APIS``): name, argument and
description are the table's, so the ``ToolNode`` and the optimizer's prompt never disagree.

Each tool reads the run's settings from the LangGraph runtime that ``ToolNode`` injects
(``context=Context(...)`` when the graph is invoked) and returns the ``ToolResult`` as a JSON
string; a failure is in its ``error`` field, so the graph goes on.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime

from .call import call_tool
from .table import API, APIS


def _settings(runtime: ToolRuntime | None):
    ctx = getattr(runtime, "context", None)
    if ctx is None or isinstance(ctx, dict) or not hasattr(ctx, "costs"):
        raise TypeError("the data-collecting tools read the run's settings from the graph's context: invoke the "
                        "graph with context=graph.context.Context(...) (got "
                        f"{type(ctx).__name__})")
    return ctx


def as_langchain_tool(api: API) -> BaseTool:
    def run(runtime: ToolRuntime, **kwargs) -> str:
        try:
            ctx = _settings(runtime)
        except TypeError as e:
            return json.dumps({"tool": api.name, "arg": kwargs.get(api.arg), "error": str(e), "rows": []})
        return json.dumps(call_tool(api.name, kwargs[api.arg], ctx).to_dict(), ensure_ascii=False)

    # the signature the schema is built from: (<arg>: str, runtime: ToolRuntime)
    run.__signature__ = inspect.Signature([
        inspect.Parameter(api.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        inspect.Parameter("runtime", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ToolRuntime[Any]),
    ], return_annotation=str)
    run.__annotations__ = {api.arg: str, "runtime": ToolRuntime[Any], "return": str}
    run.__name__ = api.name
    return StructuredTool.from_function(func=run, name=api.name, description=api.doc)


TOOLS: list[BaseTool] = [as_langchain_tool(api) for api in APIS]


def run_through_graph(tool: str, arg: str, ctx) -> dict:
    """One call through a one-node graph with the optimizer's ToolNode: the same injection, tool
    code and error path as a run (``ctx`` is the run's Context; its class is the context schema)."""
    import json

    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from .table import ARG_NAMES

    builder = StateGraph(MessagesState, context_schema=type(ctx))
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "tools")
    call = AIMessage("", tool_calls=[{"name": tool, "args": {ARG_NAMES[tool]: arg}, "id": "cli-call"}])
    out = builder.compile().invoke({"messages": [call]}, context=ctx)
    return json.loads(out["messages"][-1].content)
