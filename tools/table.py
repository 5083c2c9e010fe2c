"""The data-collecting APIs, one row each: everything else about them is derived from this table.

Costs (``COSTS``, the default of ``Context.costs``), alias resolution (``resolve``, used by the
optimizer-reply parser and ``call_tool``), the optimizer's API list (``api_lines``) and the
LangChain tools (``tools.lc.TOOLS``) all read ``APIS``. A cost is never written into a docstring:
the optimizer sees the run's own cost from ``Context.costs``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class API:
    name: str  # what the optimizer calls
    arg: str  # the one argument's name (query, topic, question)
    cost: float  # the ADS paper's default price of one call
    module: str  # tools.<module> implements run(arg, ctx), cache_parts(arg, ctx), CACHEABLE
    doc: str  # what the optimizer (and a LangChain tool's description) reads
    aliases: tuple[str, ...] = ()  # other names an optimizer uses for it (the paper's own among them)


APIS: tuple[API, ...] = (
    API("information_retrieval", "query", 1.0, "retrieval",
        "Search a Wikipedia corpus and return the most relevant passage for a short query. Use it to collect "
        "factual knowledge the policy lacks (people, places, events, definitions). The query is a few keywords "
        "naming one entity or concept.",
        ("retrieve_information", "retrieval", "retrieve", "search", "wikipedia", "search_wikipedia")),
    API("demonstration_generation", "topic", 2.0, "demonstrations",
        "Write example instruction-response pairs about a topic. Use it to show the policy how to carry out a "
        "kind of instruction (a format, a skill, a style). The topic is a short phrase describing the kind of "
        "instruction.",
        ("get_instances", "generate_demonstrations", "demonstrations", "demonstration", "generate_examples")),
    API("question_answering", "question", 3.0, "qa",
        "Get a detailed answer to one question from a stronger model (or from retrieved passages). Use it for a "
        "specific question the policy answers badly; the question and its answer come back as a training pair.",
        ("ask_question", "ask", "qa", "answer_question", "ask_teacher")),
    API("memory_search", "query", 1.0, "memory_search",
        "Find instruction-response pairs collected earlier whose instructions resemble the query. Use it to "
        "reuse data that already helped on similar tasks.",
        ("search_memory", "memory", "memory_bank")),
)

BY_NAME: dict[str, API] = {a.name: a for a in APIS}
TOOL_NAMES: list[str] = [a.name for a in APIS]
COSTS: dict[str, float] = {a.name: a.cost for a in APIS}
ARG_NAMES: dict[str, str] = {a.name: a.arg for a in APIS}
ALIASES: dict[str, str] = {alias: a.name for a in APIS for alias in a.aliases}


def _key(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def resolve(name: str) -> str | None:
    """Our name for ``name`` (an API name or an alias; case, spaces and dashes ignored), or None."""
    key = _key(name)
    return key if key in BY_NAME else ALIASES.get(key)


def api_lines(costs: dict | None = None, names: list[str] | None = None, prices: dict | None = None) -> str:
    """The optimizer's API list: one line per API with its call form, what it does, and the run's cost
    (``prices``: an API's price in words where the run does not price it per call, e.g. retrieval
    under a passage budget)."""
    costs, prices = costs or COSTS, prices or {}
    return "\n".join(f'- {a.name}("{a.arg}") [{prices.get(a.name) or f"cost {float(costs.get(a.name, a.cost)):g}"}]: {a.doc}'
                     for a in APIS if names is None or a.name in names)
