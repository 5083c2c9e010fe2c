"""The API table (tools/table.py) is the one source of names, costs, aliases, the optimizer's list
and the LangChain tools."""

from __future__ import annotations

import json

from graph.context import Context
from tools import table
from tools.lc import TOOLS


def test_every_derived_view_agrees_with_the_table():
    assert [t.name for t in TOOLS] == table.TOOL_NAMES == [a.name for a in table.APIS]
    for tool, api in zip(TOOLS, table.APIS):
        assert tool.description == api.doc and list(tool.args) == [api.arg]
        assert "Cost" not in api.doc  # the price comes from the run, never from a docstring
    assert Context().costs == table.COSTS == {"information_retrieval": 1.0, "demonstration_generation": 2.0,
                                              "question_answering": 3.0, "memory_search": 1.0}


def test_aliases_resolve_ignoring_case_spaces_and_dashes():
    assert table.resolve("Retrieve-Information") == "information_retrieval"
    assert table.resolve("ask question") == "question_answering"
    assert table.resolve("get_instances") == "demonstration_generation"
    assert table.resolve("rm_rf") is None


def test_the_optimizer_sees_the_runs_costs():
    lines = table.api_lines({**table.COSTS, "question_answering": 7.5}).splitlines()
    assert len(lines) == 4 and lines[2].startswith('- question_answering("question") [cost 7.5]: Get a detailed answer')


def test_a_langchain_tool_without_the_runs_context_returns_an_error_not_a_crash():
    out = json.loads(TOOLS[0].func(runtime=None, query="Mars"))
    assert "invoke the graph with context=graph.context.Context" in out["error"] and out["rows"] == []
