"""The evaluation harness's record: eval_report.json, eval_report.md and PNG plots; and
``evaluate_updates``, which measures already-updated policies with it (the evaluate, star-agents
and self-improve graphs all report through here).

``aggregate(cells)`` turns finished cells (one per task x method x seed, each with its per-item
outcomes, cost, calls and timings) into one row per method: win / tie / lose against the original
policy, adjusted win rate, verified accuracy of both policies and its paired gain, each with a
bootstrap 95% interval over tasks and items (``scoring.stats``), API cost in total and by API,
calls by API, dataset size, tokens and wall time; and the same by task category when tasks carry
one. Methods keep the order they were asked in.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from graph.context import Context
from scoring.stats import accuracy_gain, adjusted_win_rate, bootstrap, summarize_items

TIMING_KEYS = ("seconds", "wall_s", "latency_s")  # and any key ending in _seconds


def comparable(report, run_dir: str | Path):
    """``report`` without what differs between two runs of the same evaluation: wall times, and its
    run directory (each run has its own, so it is written as ``<run_dir>``)."""
    import json

    text = json.dumps(report, default=str).replace(json.dumps(str(run_dir))[1:-1], "<run_dir>")

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS and not k.endswith("_seconds")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(text))


def item_rows(task: str, records: list[dict], category: str | None = None) -> list[dict]:
    """Per-item outcomes of one measurement (graph.heldout.measure's records) in the stats table's shape."""
    winner = {"updated": "A", "original": "B", "tie": "tie"}
    return [{"task": task, "category": category, "instruction": r["instruction"], "winner": winner.get(r["winner"]),
             "passed": tuple(r["passed"]) if r.get("passed") is not None else None} for r in records]


def _method_row(name: str, cells: list[dict], seed: int) -> dict:
    rows = [row for c in cells for row in c["items"]]
    out = {"method": name, "cells": len(cells), **summarize_items(rows)}
    out["accuracy_gain_ci"] = bootstrap(rows, accuracy_gain, seed=seed)
    out["adjusted_win_rate_ci"] = bootstrap(rows, adjusted_win_rate, seed=seed)
    cost_by_api: dict = defaultdict(float)
    calls_by_api: dict = defaultdict(int)
    for c in cells:
        for call in c.get("api_calls") or []:
            cost_by_api[call["name"]] += call["cost"]
            calls_by_api[call["name"]] += 1 if call.get("status") == "ok" else 0
    n = max(len(cells), 1)
    out.update(cost_total=round(sum(c.get("cost", 0.0) for c in cells), 3),
               cost_per_task=round(sum(c.get("cost", 0.0) for c in cells) / n, 3),
               cost_by_api={k: round(v, 3) for k, v in sorted(cost_by_api.items())},
               calls_by_api=dict(sorted(calls_by_api.items())),
               dataset_size_mean=round(sum(c.get("dataset_size", 0) for c in cells) / n, 2),
               tokens=sum(c.get("tokens", 0) for c in cells),
               wall_s=round(sum(c.get("seconds", 0.0) for c in cells), 1),
               parse_rate=(round(sum(c["parse_ok"] for c in parsed) / len(parsed), 3)
                           if (parsed := [c for c in cells if c.get("parse_ok") is not None]) else None),
               flagged_calls=sum(c.get("flagged_calls", 0) for c in cells),
               tasks_hurt=sum(1 for c in cells if c.get("outcome") == "hurt"),
               tasks_helped=sum(1 for c in cells if c.get("outcome") == "helped"))
    return out


def aggregate(cells: list[dict], methods: list[str], *, seed: int = 0) -> dict:
    """One row per method (and per method x category) from the finished cells."""
    by_method = {m: [c for c in cells if c["method"] == m] for m in methods}
    table = [_method_row(m, cs, seed) for m, cs in by_method.items() if cs]
    categories = sorted({c.get("category") for c in cells if c.get("category")})
    by_category = []
    for cat in categories:
        for m, cs in by_method.items():
            mine = [c for c in cs if c.get("category") == cat]
            if mine:
                by_category.append({"category": cat, **_method_row(m, mine, seed)})
    return {"methods": table, "by_category": by_category,
            "tasks": sorted({c["task"] for c in cells}), "cells": len(cells)}


def read(run: str | Path) -> dict:
    """The eval_report.json of a finished evaluation's folder; ValueError saying what to do when it is
    missing or broken."""
    import json

    path = Path(run) / "eval_report.json"
    if not path.exists():
        raise ValueError(f"{path} not found: pass the --out folder of a finished bench/evaluate.py run")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}): run that evaluation again") from e


def pool(reports: list[dict], *, seed: int = 0) -> dict:
    """Several evaluations' eval_report.json as one (e.g. the dev suite run once per seed, each seed
    its own suite): every cell keeps its items, and a task is told apart by its seed as well, so the
    interval resamples the (seed, task) pairs and then their items. Methods in first-seen order."""
    cells, methods, settings = [], [], []
    for rep in reports:
        if "cells_detail" not in rep:
            raise ValueError("an eval_report.json without cells_detail (written before 2026-11) cannot be pooled: "
                             "run that evaluation again")
        settings.append(rep.get("settings") or {})
        for c in rep["cells_detail"]:
            task = f"{c['task']}@seed{c.get('seed', 0)}"
            cells.append({**c, "task": task, "items": [{**r, "task": task} for r in c["items"]]})
            if c["method"] not in methods:
                methods.append(c["method"])
    out = aggregate(cells, methods, seed=seed)
    first = settings[0] if settings else {}
    out["settings"] = {**first, "seeds": [s for st in settings for s in st.get("seeds") or []],
                       "updates": sorted({u for st in settings for u in st.get("updates") or []}),
                       "pooled": [st.get("run_dir") for st in settings]}
    out["cells_detail"] = cells
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _ci(ci, points: bool = True) -> str:
    if not ci:
        return "-"
    scale = 100 if points else 1
    return f"[{ci[0] * scale:+.1f}, {ci[1] * scale:+.1f}]" if points else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def markdown(report: dict) -> str:
    meta = report.get("settings") or {}
    lines = [f"# Evaluation: {len(report['tasks'])} task(s), {report['cells']} cell(s)", "",
             f"- policy `{meta.get('policy')}`, optimizer `{meta.get('optimizer')}`, update(s) {meta.get('updates')}, "
             f"seeds {meta.get('seeds')}",
             "- every method is measured against the same original answers, by the same verifier / judge;"
             " intervals: bootstrap 95% over tasks and items", "",
             "| method | verified acc. original -> updated | gain (points) | 95% CI | gained / lost | win / tie / lose | "
             "adj. win rate | 95% CI | tasks hurt / helped | cost / task | calls by API | rows | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["methods"]:
        acc = (f"{_pct(r.get('accuracy_original'))} -> {_pct(r.get('accuracy_updated'))}" if r.get("verified") else "-")
        gain = f"{r['accuracy_gain'] * 100:+.1f}" if r.get("verified") else "-"
        calls = ", ".join(f"{k.split('_')[0]} {v}" for k, v in r["calls_by_api"].items()) or "-"
        lines.append(f"| {r['method']} | {acc} | {gain} | {_ci(r['accuracy_gain_ci'])} | "
                     f"{r.get('gained', '-')} / {r.get('lost', '-')} | {r['win']} / {r['tie']} / {r['lose']} | "
                     f"{_pct(r['adjusted_win_rate'])} | {_ci(r['adjusted_win_rate_ci'], points=False)} | "
                     f"{r['tasks_hurt']} / {r['tasks_helped']} | {r['cost_per_task']:g} | {calls} | "
                     f"{r['dataset_size_mean']:g} | {r['wall_s']:g} |")
    if report.get("by_category"):
        lines += ["", "## By task category", "", "| category | method | gain (points) | adj. win rate | cells |", "|---|---|---|---|---|"]
        for r in report["by_category"]:
            gain = f"{r['accuracy_gain'] * 100:+.1f}" if r.get("verified") else "-"
            lines.append(f"| {r['category']} | {r['method']} | {gain} | {_pct(r['adjusted_win_rate'])} | {r['cells']} |")
    lines += ["", "Plots: accuracy_by_method.png, cost_vs_gain.png, calls_by_api.png", ""]
    return "\n".join(lines)


def plots(report: dict, out_dir: Path) -> list[Path]:
    """PNG plots a person opens: gain (or win rate) by method with intervals, cost vs gain, calls by API."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["methods"]
    if not rows:
        return []
    names = [r["method"] for r in rows]
    verified = all(r.get("verified") for r in rows)
    values = [(r["accuracy_gain"] * 100 if verified else (r["adjusted_win_rate"] or 0) * 100) for r in rows]
    cis = [r["accuracy_gain_ci"] if verified else r["adjusted_win_rate_ci"] for r in rows]
    err = [[max(v - (ci[0] * 100 if ci else v), 0) for v, ci in zip(values, cis)],
           [max((ci[1] * 100 if ci else v) - v, 0) for v, ci in zip(values, cis)]]
    written = []
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 4))
    ax.bar(names, values, yerr=err, capsize=4, color=["#999999" if n == "original" else "#4C72B0" for n in names])
    ax.axhline(0 if verified else 50, color="black", linewidth=0.8)
    ax.set_ylabel("verified accuracy gain (points)" if verified else "adjusted win rate vs original (%)")
    ax.set_title("held-out gain by method (95% bootstrap interval)")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.savefig(out_dir / "accuracy_by_method.png", dpi=110, bbox_inches="tight")
    written.append(out_dir / "accuracy_by_method.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r, v in zip(rows, values):
        ax.scatter(r["cost_per_task"], v)
        ax.annotate(r["method"], (r["cost_per_task"], v), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("API cost per task")
    ax.set_ylabel("gain (points)" if verified else "adjusted win rate (%)")
    ax.set_title("cost vs gain")
    fig.savefig(out_dir / "cost_vs_gain.png", dpi=110, bbox_inches="tight")
    written.append(out_dir / "cost_vs_gain.png")
    plt.close(fig)

    apis = sorted({a for r in rows for a in r["calls_by_api"]})
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 4))
    bottom = [0] * len(rows)
    for api in apis:
        counts = [r["calls_by_api"].get(api, 0) for r in rows]
        ax.bar(names, counts, bottom=bottom, label=api)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylabel("successful calls (all tasks)")
    ax.set_title("calls by API")
    if apis:
        ax.legend(fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.savefig(out_dir / "calls_by_api.png", dpi=110, bbox_inches="tight")
    written.append(out_dir / "calls_by_api.png")
    plt.close(fig)
    return written


def write(report: dict, out_dir: str | Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {**report, "plots": [p.name for p in plots(report, out_dir)]}
    from records import write_report

    write_report(out_dir, "eval_report", report, markdown(report))
    return report


# ---- measuring already-updated policies ---------------------------------------------------------

def evaluate_updates(ctx: Context, tasks: list[dict], updates: dict[str, dict], out_dir: str | Path) -> dict:
    """Measure named updated policies (``trainers.update.update_policy`` results, e.g.
    ``{"kind": "sft", "policy": "local:base+adapter"}``) on every task against the original policy's
    answers (computed once per task), and write the harness's report in ``out_dir``."""
    from graph.heldout import measure, original_answers

    cells = []
    for task in tasks:
        original = original_answers(ctx, task["held_out"])
        for name, updated in updates.items():
            t0 = time.perf_counter()
            m = measure(ctx, task["held_out"], updated, original=original)
            cells.append({"task": task["task"], "method": name, "category": task.get("category"), "seed": ctx.seed,
                          "items": item_rows(task["task"], m["records"], task.get("category")),
                          "cost": float(updated.get("cost", 0.0)), "api_calls": [],
                          "dataset_size": int(updated.get("rows_used", 0)), "tokens": 0,
                          "seconds": round(time.perf_counter() - t0, 2)})
    rep = aggregate(cells, list(updates), seed=ctx.seed)
    rep["settings"] = {"policy": ctx.policy, "optimizer": None, "updates": list(updates), "seeds": [ctx.seed],
                       "judge_mode": ctx.judge_mode, "judge": ctx.judge, "run_dir": str(out_dir)}
    rep["cells_detail"] = cells
    return write(rep, out_dir)
