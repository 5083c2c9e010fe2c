"""`star-agents` runs the star-agents graph on a seed dataset; runs resume and inspect like improve's."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from graph.cli import build_context, run_dir, run_graph, settings_options


def load_seeds(path: str, limit: int | None) -> list[dict]:
    """The seed rows of ``path`` (JSONL, JSON or YAML), checked; a bad file is a ClickException saying what to fix."""
    from graph.star_agents.graph import SeedError, check_seeds
    from records import RecordError, read_records

    try:
        rows = read_records(path)
        rows = check_seeds(rows[:limit] if limit else rows, path)
    except (RecordError, SeedError) as e:
        raise click.ClickException(f"{e}. A seed file holds rows like Alpaca's "
                                   '{"instruction": ..., "input": ..., "output": ...} or {"instruction": ..., "response": ...}') from None
    return rows


class Progress:
    """One line per finished node on stderr: seeds done, the kept row's pair and score."""

    def __init__(self, total: int, done: int = 0):
        self.t0, self.total, self.done = time.perf_counter(), total, done

    def __call__(self, node: str, update: dict) -> None:
        detail = ""
        if node == "seed":
            for d in update.get("done") or []:
                self.done += 1
                score = "-" if d["score"] is None else f"{d['score']:.3f}"
                detail = (f"seed {self.done}/{self.total}: kept {d['kept_pair']} score {score} "
                          f"({'better than base' if d['improved'] else 'base kept'}; sampled {', '.join(d['sampled']) or '-'}; "
                          f"unparsable {d['unparsable']}; memory +{d['memory_added']})")
        elif node == "finish":
            detail = ", ".join(Path(p).name for p in (update.get("outputs") or {}).values())
        elif node == "train":
            detail = ", ".join(f"{k}: {v.get('rows_used', 0)} rows -> {v['policy']}" for k, v in (update.get("updates") or {}).items())
        elif node == "evaluate":
            detail = "; ".join(f"{m['method']} win {m['win']} tie {m['tie']} lose {m['lose']}"
                               for m in update["evaluation"]["methods"])
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {node:<8} {detail}".rstrip(), err=True)


@click.command(name="star-agents")
@click.option("--seed-data", type=click.Path(dir_okay=False), envvar="ADS_SEED_DATA",
              help="Seed dataset (JSONL/JSON/YAML): instruction (+ input) and output or response per row.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/star-agents-<time>).")
@click.option("--limit", type=int, help="Use only the first N seeds.")
@click.option("--policy", envvar="ADS_POLICY", help="Target (small) model spec; also the default model of every agent.")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge model spec.")
@click.option("--large-model", "star_large_model", envvar="ADS_LARGE_MODEL",
              help="Stronger model spec for the dual-model IFD (without one, the judge alone ranks candidates).")
@click.option("--held-out", "star_held_out", type=click.Path(dir_okay=False),
              help="Held-out instructions: also train LoRA on curated / seed / random rows and compare them.")
@click.option("--probabilities", "star_probabilities", type=click.Path(dir_okay=False),
              help="Start from these p_jk (a run's probabilities.json).")
@click.option("--m", "star_m", type=int, help="Pairs sampled per seed besides the base pairs (default 2).")
@click.option("--l", "star_l", type=int, help="Of those, at most this many from the memory bank's neighbours (default 1).")
@click.option("--seed", type=int, help="Seed for sampling.")
@click.option("--resume", metavar="THREAD", help="Continue an interrupted run after its last finished seed.")
@click.option("--thread", metavar="THREAD", help="Thread id of a new run (default: <run directory name>-<6 hex>).")
@settings_options
def star_agents(seed_data, out, limit, resume, thread, db, config_file, sets, no_cache, **named):
    """Improve a seed dataset with Star-Agents: agent pairs rewrite and answer, dual IFD x judge keeps the best."""
    def start():
        if not seed_data:
            raise click.ClickException("give --seed-data FILE (e.g. ../shared/data/alpaca-gpt4-demo/alpaca_en_demo.json)")
        seeds = load_seeds(seed_data, limit)
        named["run_dir"] = run_dir(out, "star-agents")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        if ctx.star_held_out:
            from graph.star_agents.outputs import held_out_items
            from records import RecordError

            try:
                held_out_items(ctx.star_held_out, ctx.star_held_out_n)
            except (RecordError, ValueError) as e:
                raise click.ClickException(f"--held-out: {e}") from None
        return {"seeds": seeds, "source": Path(seed_data).name}, ctx, f"{len(seeds)} seeds from {seed_data}"

    thread, values = run_graph("star-agents", db, resume=resume, thread=thread, start=start,
                               progress=lambda values: Progress(len(values.get("seeds") or []), len(values.get("done") or [])))
    report = (values or {}).get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; continue it with "
                                   f"python cli.py star-agents --resume {thread}, or inspect it: python cli.py inspect {thread}")
    click.echo(f"{report['run_dir']}/report.md", err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "counts": report["counts"],
                           "score_kinds": report["score_kinds"], "probabilities": report["probabilities"]["end"],
                           "evaluation": (report.get("evaluation") or {}).get("methods")}, indent=2, default=str))
