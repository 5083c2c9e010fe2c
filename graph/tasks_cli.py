"""`tasks build` turns an instruction set into task files; `tasks list` shows built tasks."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def tasks():
    """Build and list target tasks."""


@tasks.command("build")
@click.option("--source", required=True, type=click.Path(dir_okay=False),
              help="JSONL/JSON of instructions (instruction/Instruction/question/turns), with answers for knowledge tasks.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the tasks (default $ADS_HOME/tasks/<name>).")
@click.option("--name", help="Prefix of the task names (default: the source file's stem).")
@click.option("--label", help="Group by this field (WizardLM: Skill; Magpie: task_category or difficulty; Vicuna: category).")
@click.option("--clusters", type=int, help="Without --label: number of k-means clusters (default: rows / --group-size).")
@click.option("--group-size", type=int, default=18, show_default=True, help="Target instructions per clustered task.")
@click.option("--min-size", type=int, default=5, show_default=True, help="Drop groups with fewer instructions.")
@click.option("--observed", type=int, default=3, show_default=True, help="Observed instructions per task (the rest are held out).")
@click.option("--held-out", "max_held_out", type=int, default=15, show_default=True, help="Most held-out instructions per task.")
@click.option("--splits", default="0.6,0.2,0.2", show_default=True, help="Train, validation, test fractions of the tasks.")
@click.option("--limit", type=int, help="Read only the first N rows of the source.")
@click.option("--augment", type=int, default=0, show_default=True,
              help="Add up to N held-out instructions per task, written by --model (Self-Instruct, ROUGE-L filter).")
@click.option("--model", default="local:smollm2-135m-instruct", show_default=True, envvar="ADS_POLICY",
              help="Model that writes augmented instructions.")
@click.option("--corpus", default="wiki-offline", show_default=True, help="Retrieval corpus that knowledge answers must be stated in.")
@click.option("--seed", type=int, default=0, show_default=True)
def build_cmd(source, out, name, label, clusters, group_size, min_size, observed, max_held_out, splits, limit, augment,
              model, corpus, seed):
    """Group an instruction set into tasks (by label, or by embedding clusters), split them, write task files."""
    from graph.tasks.build import BuildError, build
    from llms.registry import ads_home

    try:
        fractions = tuple(float(x) for x in splits.split(","))
    except ValueError:
        raise click.ClickException(f"--splits {splits!r}: give three fractions, e.g. 0.6,0.2,0.2") from None
    out = Path(out) if out else ads_home() / "tasks" / (name or Path(source).stem)
    embedder = corpus_index = llm = prompt = None
    from records import read_records

    try:
        sample = read_records(source)[:50]
    except Exception as e:  # noqa: BLE001 - read_records raises RecordError with the file and line
        raise click.ClickException(str(e)) from None
    if any(r.get("answers") or r.get("answer") for r in sample):
        from tools.corpus import CorpusError, ensure_corpus

        try:
            corpus_index = ensure_corpus(corpus, log=lambda m: click.echo(m, err=True))
        except CorpusError as e:
            raise click.ClickException(str(e)) from None
    if label is None:
        from llms.embeddings import load_embedder

        embedder = load_embedder((corpus_index.embedder if corpus_index else None))
    if augment:
        import llms
        from graph.context import Context

        llm, prompt = llms.load(model), Context().prompt("TASK_AUGMENT_PROMPT")
    try:
        manifest = build(source, out, name=name, label=label, clusters=clusters, group_size=group_size, min_size=min_size,
                         observed=observed, max_held_out=max_held_out, splits=fractions, seed=seed, limit=limit,
                         corpus=corpus_index, embedder=embedder, augment=augment, augment_llm=llm, augment_prompt=prompt,
                         log=lambda m: click.echo(m, err=True))
    except BuildError as e:
        raise click.ClickException(str(e)) from None
    counts = {s: len(v) for s, v in manifest["splits"].items()}
    click.echo(f"{len(manifest['tasks'])} tasks ({', '.join(f'{k} {v}' for k, v in counts.items())}) in {out}; "
               f"dropped {len(manifest['dropped_groups'])} group(s) under {min_size}", err=True)
    click.echo(str(out))


@tasks.command("list")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
def list_cmd(folder):
    """Tasks in a built folder: split, observed and held-out counts, category."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise click.ClickException(f"{folder} has no manifest.json: build tasks with python cli.py tasks build")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, t in manifest["tasks"].items():
        click.echo(f"{t['split']:<11} {name:<48} observed {t['observed']}  held-out {t['held_out']:>2}  {t.get('category') or ''}")
