"""`self-improve`: I-SHEEP on a seed file (graph/self_improve.py), checkpointed like improve.

The seed file becomes the pool the model writes new tasks from; the held-out instructions come
from ``--held-out FILE`` (a task file's held_out, or any instruction file: Self-Instruct,
Alpaca, Vicuna bench; items with answers/checks are verified) or, without it, ``--held-out-n``
seed tasks held out of the pool by a seeded split. ``--resume THREAD`` continues a run at the
last finished stage of its last iteration.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import click

from graph.cli import build_context, run_dir, run_graph, settings_options
from graph.context import ISHEEP_SETTINGS


def held_out_items(path: str, n: int) -> list[dict]:
    """The first ``n`` held-out items of a task file or an instruction file."""
    from records import instruction_of, read_document
    from tools.self_instruct import read_tasks

    if Path(path).suffix.lower() in (".yaml", ".yml", ".json") and isinstance(read_document(path), dict) \
            and "held_out" in read_document(path):
        from graph.tasks.load import load_task

        return load_task(path, max_held_out=n)["held_out"]
    return [{"instruction": instruction_of(t), **{k: t[k] for k in ("answers", "checks") if k in t}}
            for t in read_tasks(path)[:n]]


def inputs(seeds_path: str, held_out_path: str | None, held_out_n: int, seed: int) -> dict:
    """The graph's input: the seed pool and the held-out items (held out of the pool when no file)."""
    from records import instruction_of
    from tools.self_instruct import read_tasks

    pool = read_tasks(seeds_path)
    if held_out_path:
        held = held_out_items(held_out_path, held_out_n)
    else:
        if len(pool) <= held_out_n:
            raise click.ClickException(f"{seeds_path}: {len(pool)} seed tasks cannot give {held_out_n} held-out "
                                       "instructions and keep a pool: lower --held-out-n or pass --held-out FILE")
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        held = [{"instruction": instruction_of(pool[i])} for i in order[:held_out_n]]
        pool = [pool[i] for i in sorted(order[held_out_n:])]
    if not held:
        raise click.ClickException(f"{held_out_path}: no held-out instructions in it")
    return {"name": Path(seeds_path).stem, "seeds": pool, "held_out": held}


class Progress:
    """One line per finished stage: elapsed time, iteration, stage, rows kept."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, node: str, update: dict) -> None:
        detail = ""
        if update.get("log"):
            detail = "; ".join(f"{e['step']} {e['kept']}/{e['in']}" for e in update["log"])
        if node == "train":
            u = update["updated"]
            detail += f" -> {u.get('adapter') or u.get('note')}"
        if node == "evaluate":
            ev = update["iterations"][-1]["evaluation"]
            detail = f"win {ev['win']} tie {ev['tie']} lose {ev['lose']}, adjusted win rate {ev['adjusted_win_rate']}" + (
                f", accuracy {ev['accuracy_original']:.2f} -> {ev['accuracy_updated']:.2f}" if ev.get("verified") else "")
        if node == "report":
            detail = f"-> {update['report']['run_dir']}/report.md"
        it = (update.get("iterations") or [{}])[-1].get("iteration") or update.get("iteration") or \
            next((e["iteration"] for e in update.get("log") or []), "")
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] iter {it} {node:<8} {detail}".rstrip(), err=True)


@click.command(name="self-improve")
@click.option("--seeds", "seeds_path", type=click.Path(dir_okay=False), envvar="ADS_SEEDS",
              help="Seed tasks (JSONL/JSON/YAML): Self-Instruct seed tasks, Alpaca rows or instructions.")
@click.option("--iterations", "isheep_iterations", type=int, help="Iterations (default 3).")
@click.option("--data-size", "isheep_data_size", type=int, help="Tasks the model writes per iteration, before filters (default 64).")
@click.option("--threshold", "assess_threshold", type=int, help="Keep pairs self-rated at least this (1-10) on both axes (default 8).")
@click.option("--setting", "isheep_setting", type=click.Choice(ISHEEP_SETTINGS), help="What each iteration trains (default one_base).")
@click.option("--perplexity/--no-perplexity", "isheep_perplexity", default=None, help="Also drop pairs above max_perplexity (50).")
@click.option("--density/--no-density", "isheep_density", default=None, help="Also thin dense clusters (k-means).")
@click.option("--held-out", "held_out_path", type=click.Path(dir_okay=False), help="Held-out instructions: a task file or an instruction file.")
@click.option("--held-out-n", type=int, default=10, show_default=True, help="Held-out instructions used (from the file, or held out of the seeds).")
@click.option("--policy", envvar="ADS_POLICY", help="Base policy model spec.")
@click.option("--judge", envvar="ADS_JUDGE", help="Pairwise judge of the held-out evaluation.")
@click.option("--recipe", "sft_recipe", type=click.Path(dir_okay=False), help="LoRA SFT recipe (default recipes/sft_lora.yaml).")
@click.option("--seed", type=int, help="Seed for sampling and the held-out split.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/self-improve-<time>).")
@click.option("--resume", metavar="THREAD", help="Continue an interrupted run at its last finished stage.")
@click.option("--thread", metavar="THREAD", help="Thread id of a new run (default: <run directory name>-<6 hex>).")
@settings_options
def self_improve(seeds_path, held_out_path, held_out_n, resume, thread, db, config_file, sets, no_cache, out, **named):
    """I-SHEEP: the policy writes, answers, rates and trains on its own data from seed tasks, round after round."""
    from records import RecordError

    def start():
        if not seeds_path:
            raise click.ClickException("give the seed tasks: --seeds FILE (e.g. ../shared/data/self-instruct/seed_tasks.jsonl)")
        named["run_dir"] = run_dir(out, "self-improve")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        try:
            task = inputs(seeds_path, held_out_path, held_out_n, ctx.seed)
        except (RecordError, ValueError) as e:
            raise click.ClickException(str(e)) from None
        return task, ctx, (f"{len(task['seeds'])} seed tasks, {len(task['held_out'])} held-out, "
                           f"{ctx.isheep_iterations} iteration(s) of {ctx.isheep_data_size} ({ctx.isheep_setting})")

    thread, values = run_graph("self-improve", db, resume=resume, thread=thread, start=start,
                               progress=lambda values: Progress())
    report = (values or {}).get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; inspect it: python cli.py inspect {thread}")
    click.echo(report["outcome"]["text"], err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "iterations": [
        {"iteration": it["iteration"], "counts": it["counts"], "metric": it["metric"], "adapter": it["adapter"]}
        for it in report["iterations"]]}, indent=2))
