"""evaluate with executor=local and with executor=ray (a local Ray cluster of --workers units) on the
same tasks, one after the other in one run: both wall times and their ratio, whether the two
reports are identical (graph.harness.comparable: everything but wall times and the run folder),
and a projection for N workers (GPUs) from the measured per-unit costs.

    .venv/bin/python bench/scale.py [--suite nq --split validation --tasks 3] [--methods original,retrieval,ads]
                                    [--workers 2] [--project 1,2,4,8,16,32] [--set FIELD=VALUE ...]

Each executor starts cold: its own run folder, tool cache and generation cache (a warm cache would
answer the second run from the first). The projection: the driver's own time (the original
answers and the report, measured in the local run), plus the longest-first schedule of the local
run's cell seconds over N workers, plus Ray's overhead measured here: the Ray run's wall time less
its driver time and that schedule over --workers (the cluster's start, each worker's imports and
model loads, which workers pay side by side, and units on unit_cpus threads). It assumes a unit
costs on a GPU what it cost here; a GPU shortens each unit, the projection only says how the units
spread. More workers than units do not help: the longest unit is the floor.
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of ``seconds``-long units on ``workers`` workers, longest first to the least loaded."""
    loads = [0.0] * max(1, workers)
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def timed_run(ctx, inputs, out: Path) -> dict:
    """One evaluation; its wall time, the driver's own seconds (before the first cell, after the last)
    and the report."""
    from graph.runs import RunStore

    t0 = time.perf_counter()
    marks = {}

    def on_update(node, update):
        if node == "originals":
            marks["originals"] = time.perf_counter() - t0
        elif node == "cell":
            marks["cells"] = time.perf_counter() - t0

    _, values = RunStore(out / "checkpoints.sqlite").start("evaluate", inputs, ctx, on_update=on_update)
    wall = time.perf_counter() - t0
    return {"wall": wall, "driver": marks.get("originals", 0.0) + (wall - marks.get("cells", wall)),
            "cells": marks.get("cells", wall) - marks.get("originals", 0.0), "report": values["eval_report"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="nq")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--tasks", type=int, default=3, help="the first N tasks of the split")
    ap.add_argument("--methods", default="original,retrieval,ads")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--project", default="1,2,4,8,16,32", help="worker counts to project to")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    from evaluate import suite_dir  # bench/evaluate.py builds the dev suites once

    from graph.context import Context
    from graph.harness import comparable
    from graph.tasks.load import load_tasks

    tasks = load_tasks(suite_dir(args.suite, args.seed), split=args.split, seed=args.seed)[: args.tasks]
    out = Path(args.out or f"runs/bench-scale-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    inputs = {"tasks": tasks, "methods": args.methods.split(",")}
    settings = dict(item.split("=", 1) for item in args.set)
    runs = {}
    for name, extra in (("local", {}), ("ray", {"executor": "ray", "ray_workers": args.workers})):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        ctx = Context.build({**settings, **extra, "run_dir": str(folder), "seed": args.seed,
                             "cache_path": str(folder / "tool_cache.sqlite")})
        load = os.getloadavg()[0]
        print(f"{name}: {len(tasks)} tasks x {args.methods} (load average {load:.1f} before) ...", file=sys.stderr)
        runs[name] = timed_run(ctx, inputs, folder)
        runs[name]["ctx"] = ctx
        print(f"{name}: {runs[name]['wall']:.0f} s", file=sys.stderr)

    local, ray = runs["local"], runs["ray"]
    same = comparable(local["report"], local["ctx"].run_dir) == comparable(ray["report"], ray["ctx"].run_dir)
    units = [c["seconds"] for c in local["report"]["cells_detail"] if c["method"] != "original"]
    overhead = max(0.0, ray["wall"] - ray["driver"] - makespan(units, args.workers))
    print(f"\n{len(tasks)} tasks ({args.suite} {args.split}), methods {args.methods}: {len(local['report']['cells_detail'])} cells, "
          f"{len(units)} of them units that run an improve (the original policy's are free)")
    print(f"local: {local['wall']:.1f} s (driver {local['driver']:.1f} s, cells {local['cells']:.1f} s)")
    print(f"ray, {args.workers} workers: {ray['wall']:.1f} s (driver {ray['driver']:.1f} s, cells {ray['cells']:.1f} s)")
    print(f"ratio local / ray wall: {local['wall'] / ray['wall']:.2f}")
    print(f"identical reports: {'yes' if same else 'NO'}")
    print(f"per-unit seconds (local): mean {sum(units) / max(len(units), 1):.1f}, min {min(units, default=0):.1f}, "
          f"max {max(units, default=0):.1f}; Ray's overhead over their even split on {args.workers} workers "
          f"(start-up, each worker's model loads, units on fewer threads): {overhead:.1f} s")
    print(f"\n{'workers':>8}{'projected wall s':>18}{'x local':>9}")
    for n in (int(x) for x in args.project.split(",")):
        wall = local["driver"] + makespan(units, n) + (overhead if n > 1 else 0.0)
        print(f"{n:>8}{wall:>18.1f}{local['wall'] / wall:>9.2f}")
    print(f"\nreports: {out / 'local' / 'eval_report.md'}, {out / 'ray' / 'eval_report.md'}")


if __name__ == "__main__":
    main()
