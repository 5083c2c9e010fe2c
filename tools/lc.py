"""The APIs as LangChain tools: their docstrings are what the optimizer reads.

Each reads the run's ``Context`` from the LangGraph runtime that ``ToolNode`` injects and returns
the ``ToolResult`` as a JSON string; a failure is in its ``error`` field, so the graph goes on.
"""

from __future__ import annotations

import json

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from graph.context import Context

from . import call_tool


def _run(name: str, arg: str, runtime: ToolRuntime | None) -> str:
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, dict):
        ctx = Context(**ctx)
    elif not isinstance(ctx, Context):
        ctx = Context()
    return json.dumps(call_tool(name, arg, ctx).to_dict(), ensure_ascii=False)


@tool
def information_retrieval(query: str, runtime: ToolRuntime[Context]) -> str:
    """Search a Wikipedia corpus and return the most relevant passage(s) for a short query.

    Use it to collect factual knowledge the policy lacks (people, places, events, definitions).
    The query is a few keywords or a question, e.g. "Mona Lisa painter". Cost: 1.
    """
    return _run("information_retrieval", query, runtime)


@tool
def demonstration_generation(topic: str, runtime: ToolRuntime[Context]) -> str:
    """Write example instruction-response pairs about a topic.

    Use it to show the policy how to carry out a kind of instruction (a format, a skill, a style).
    The topic is a short phrase, e.g. "writing a haiku about nature". Cost: 2.
    """
    return _run("demonstration_generation", topic, runtime)


@tool
def question_answering(question: str, runtime: ToolRuntime[Context]) -> str:
    """Get a detailed answer to one question from a stronger model (or from retrieved passages).

    Use it for a specific question the policy answers badly; the question and its answer come
    back as a training pair. Cost: 3.
    """
    return _run("question_answering", question, runtime)


@tool
def memory_search(query: str, runtime: ToolRuntime[Context]) -> str:
    """Find instruction-response pairs collected earlier whose instructions resemble the query.

    Use it to reuse data that already helped on similar tasks. Cost: 1.
    """
    return _run("memory_search", query, runtime)


TOOLS = [information_retrieval, demonstration_generation, question_answering, memory_search]
