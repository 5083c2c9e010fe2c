"""`evaluate`: every method on many tasks, against the same original answers, with cost and intervals."""

from __future__ import annotations

import json
from pathlib import Path

import click

from graph.cli import build_context, run_dir, run_graph, settings_options


class CellProgress:
    """A progress bar over tasks x methods, with the running API cost."""

    def __init__(self, total: int | None = None, done: int = 0, cost: float = 0.0):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc="cells", unit="cell", dynamic_ncols=True)
        self.cost = cost

    def __call__(self, node: str, update: dict) -> None:
        if node == "plan":
            self.bar.total = len(update.get("cells") or [])
            self.bar.refresh()
        elif node == "originals":
            task = next(iter(update.get("originals") or {}), "")
            self.bar.set_postfix_str(f"original answers: {task}")
        elif node == "cell":
            c = update["done"][-1]
            self.cost += c.get("cost", 0.0)
            self.bar.update(1)
            self.bar.set_postfix_str(f"{c['task']} / {c['method']}: {c.get('outcome')}, cost so far {self.cost:g}")
        elif node == "report":
            self.bar.close()


@click.command()
@click.option("--tasks", "tasks_path", type=click.Path(exists=True), help="Task file or folder (from tasks build).")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), help="Split of a built folder (default test).")
@click.option("--methods", default="original,retrieval,self-instruct,rule-qa,prompting", show_default=True,
              help="Comma-separated: original, prompting, ads, ads=SPEC, ads-only:API, retrieval, self-instruct, rule-qa.")
@click.option("--update", "updates", default=None, help="Update kind(s), comma-separated: icl, sft (default: Context.update).")
@click.option("--curation", "curations", multiple=True, metavar="STEPS",
              help="A curation strategy to compare (comma-separated steps); repeat to compare several.")
@click.option("--seeds", type=int, default=1, show_default=True, help="Seeds per cell: 0..N-1 (added to --seed).")
@click.option("--seed", type=int, default=None, help="First seed.")
@click.option("--policy", envvar="ADS_POLICY", help="Policy model spec.")
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="Optimizer model spec (the ads method; prompting strips its adapter).")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge model spec.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for eval_report.* and the cells (default runs/eval-<time>).")
@click.option("--resume", metavar="THREAD", help="Continue an interrupted evaluation; finished cells are never run again.")
@settings_options
def evaluate(tasks_path, split, methods, updates, curations, seeds, seed, out, resume, db, config_file, sets, no_cache, **named):
    """Measure methods (baselines, ADS, ablations) on many tasks: gain, win rate, cost, with intervals."""
    from graph.tasks.load import TaskError, load_tasks

    def start():
        if not tasks_path:
            raise click.ClickException("give --tasks FILE|FOLDER (build tasks with: python cli.py tasks build)")
        named["seed"] = seed
        named["run_dir"] = run_dir(out, "eval")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        try:
            tasks = load_tasks(tasks_path, split=split, seed=ctx.seed)
        except TaskError as e:
            raise click.ClickException(str(e)) from None
        inputs = {"tasks": tasks, "methods": [m.strip() for m in methods.split(",") if m.strip()],
                  "seeds": [ctx.seed + i for i in range(seeds)]}
        if updates:
            inputs["updates"] = [u.strip() for u in updates.split(",") if u.strip()]
        if curations:
            inputs["curations"] = [[s.strip() for s in c.split(",") if s.strip()] for c in curations]
        from graph.evaluate.graph import check_method

        try:
            [check_method(m) for m in inputs["methods"]]
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        return inputs, ctx, f"{len(tasks)} task(s) x {len(inputs['methods'])} method(s)"

    thread, values = run_graph("evaluate", db, resume=resume, start=start, progress=lambda values: CellProgress())
    rep = (values or {}).get("eval_report")
    if rep is None:
        raise click.ClickException(f"evaluation {thread} stopped early; continue it with --resume {thread}")
    for r in rep["methods"]:
        gain = f"{r['accuracy_gain'] * 100:+.1f} pts" if r.get("verified") else "-"
        click.echo(f"{r['method']:<34} gain {gain:>10}  gained/lost {r.get('gained', '-')}/{r.get('lost', '-')}  "
                   f"adj. win {r['adjusted_win_rate'] if r['adjusted_win_rate'] is None else round(r['adjusted_win_rate'], 3)}"
                   f"  cost/task {r['cost_per_task']:g}", err=True)
    folder = rep["settings"]["run_dir"]
    click.echo(json.dumps({"thread": thread, "report": str(Path(folder) / "eval_report.md"), "methods": len(rep["methods"]),
                           "cells": rep["cells"]}))
