"""The improve graph with scripted models and a fake tool layer, for a LangGraph API server in tests.

``tests/test_langgraph_server.py`` writes a langgraph.json whose graph is ``tests.langgraph_app:graph``
and starts ``langgraph dev`` on it: the server process imports this module, which registers the
``fake`` model backend (as tests/conftest.py does in the pytest process) and replaces
``tools.call_tool`` before it hands over the real ``graph.improve.graph.graph``. Nothing here loads a real
model, index or embedder.
"""

from __future__ import annotations

import os

for _var, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                     ("ANONYMIZED_TELEMETRY", "False")):
    os.environ.setdefault(_var, _value)

import llms  # noqa: E402
import tools  # noqa: E402
from tests.fakes import ScriptedLLM  # noqa: E402
from tools.base import ToolResult  # noqa: E402

PLAN = 'Zorbia is missing from what the policy knows.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>'
FACTS = {"Zorbia": "Zorbia is a country whose capital is Quxton."}
CAPITALS = {"Zorbia": "Quxton"}
TOOL_CALLS: list[tuple[str, str]] = []  # every fake tool call made in this (server) process


def policy_reply(messages: list[dict]) -> str:
    """The policy knows a capital only when a passage in its prompt names it (the question never does)."""
    question = messages[-1]["content"]
    text = "\n".join(m["content"] for m in messages)
    for place, capital in CAPITALS.items():
        if place in question and capital in text:
            return f"The capital of {place} is {capital}."
    return "I am not sure."


def _models() -> dict[str, ScriptedLLM]:
    policy = ScriptedLLM(spec="fake:policy", respond=policy_reply,
                         logprob_fn=lambda context, continuation: [-1.0 if context else -2.0] * max(1, len(continuation) // 4))
    return {
        "optimizer": ScriptedLLM(spec="fake:optimizer", respond=lambda messages: PLAN),
        "policy": policy,
        "judge": ScriptedLLM(spec="fake:judge", respond=lambda messages: "Accurate and useful. Quality: 8\nFollowing: 7"),
    }


MODELS = _models()


def _load_fake(ms, **opts):
    return MODELS[ms.name]


def fake_call_tool(name: str, arg: str, ctx) -> ToolResult:
    """One document row per call, as information_retrieval returns it."""
    TOOL_CALLS.append((name, arg))
    prov = {"tool": name, "arg": arg}
    text = FACTS.get(arg, f"Nothing is known about {arg}.")
    return ToolResult(tool=name, arg=arg, cost=float(ctx.costs[name]), latency_s=0.01, provenance=prov,
                      rows=[{"type": "document", "text": text, "title": arg, "score": 1.0, "source": name, "provenance": prov}])


llms.register_backend("fake", _load_fake)
tools.call_tool = fake_call_tool

from graph.improve.graph import graph  # noqa: E402

__all__ = ["graph"]
