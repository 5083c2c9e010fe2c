"""`memory` commands: add rows to the instruction memory bank, search it, show its size."""

from __future__ import annotations

import json

import click

from llms.registry import DEFAULT_EMBEDDER, ads_home


def _bank(path, embedder):
    from . import MemoryBank

    return MemoryBank(path or ads_home() / "memory", embedder)


path_option = click.option("--path", envvar="ADS_MEMORY_PATH", default=None,
                           help="Memory bank folder (default: $ADS_HOME/memory).")
embedder_option = click.option("--embedder", envvar="ADS_EMBEDDER", default=DEFAULT_EMBEDDER, show_default=True,
                               help="Embedder of the bank's instructions.")


@click.group()
def memory():
    """The instruction memory bank (Chroma)."""


@memory.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@path_option
@embedder_option
def add_cmd(file, path, embedder):
    """Add instruction-response rows from a JSONL (or JSON list) file; repeated instructions are skipped."""
    from records import RecordError

    from . import read_rows

    try:
        rows = read_rows(file)
    except RecordError as e:
        raise click.ClickException(f"{e} (expected JSON objects with instruction and response/output)") from None
    counts = _bank(path, embedder).add(rows)
    click.echo(f"added {counts['added']}, duplicate {counts['duplicate']}, invalid {counts['invalid']} (of {len(rows)} rows)")
    if counts["added"] == 0 and counts["duplicate"] == 0:
        raise click.ClickException(f"{file}: no row has both an instruction and a response/output")


@memory.command("search")
@click.argument("query")
@click.option("-k", "--k", "k", type=int, default=3, show_default=True, help="Rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@path_option
@embedder_option
def search_cmd(query, k, as_json, path, embedder):
    """Show the stored rows whose instructions are nearest in meaning to QUERY."""
    bank = _bank(path, embedder)
    rows = bank.search(query, k=k)
    if not rows:
        raise click.ClickException(f"the memory bank at {bank.path} is empty; add rows with: python cli.py memory add FILE.jsonl")
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"[{r['score']:.3f}] {r['instruction']}\n    -> {r['response'][:200]}")


@memory.command("stats")
@path_option
@embedder_option
def stats_cmd(path, embedder):
    """Where the bank is, its embedder and how many rows it holds."""
    for key, value in _bank(path, embedder).stats().items():
        click.echo(f"{key}: {value}")
