"""The run's record: report.json (the contract), report.md (for people), trajectory.json."""

from __future__ import annotations

import json
from pathlib import Path

from graph.context import Context


def api_calls(state: dict) -> list[dict]:
    """Every planned call as it went: name, argument, cost, latency, status, rows, error."""
    out = []
    for r in state.get("results") or []:
        out.append({"name": r.get("tool"), "argument": r.get("arg"), "cost": float(r.get("cost") or 0.0),
                    "status": r.get("status"), "cached": bool(r.get("cached")), "latency_s": r.get("latency_s"),
                    "rows": len(r.get("rows") or []), "error": r.get("error"),
                    **({"edited_from": r["edited_from"]} if r.get("edited_from") else {})})
    return out


def build_report(state: dict, ctx: Context, timings: dict) -> dict:
    evaluation = state.get("evaluation") or {}
    calls = api_calls(state)
    updated = state.get("updated") or {}
    parse_log = state.get("parse_log") or []
    return {
        "task": state.get("task"),
        "update": ctx.update,
        "policy": ctx.policy,
        "optimizer": ctx.optimizer,
        "api_calls": calls,
        "cost_total": round(sum(c["cost"] for c in calls), 4),
        "budget": {"max_calls": ctx.max_calls, "max_cost": ctx.max_cost},
        "dropped_calls": [d for d in state.get("dropped") or [] if "row" not in d],
        "optimizer_attempts": len(parse_log),
        "parse_gave_up": next((p["gave_up"] for p in parse_log if p.get("gave_up")), None),
        "rows_gathered": sum(len(r.get("rows") or []) for r in state.get("results") or [] if r.get("status") == "ok"),
        "dataset_size": len(state.get("dataset") or []),
        "updated_policy": {k: v for k, v in updated.items() if k != "context"},
        "judge": evaluation.get("judge"),
        "held_out": evaluation.get("summary"),
        "accuracy": evaluation.get("accuracy"),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "run_dir": str(ctx.run_dir),
    }


def _markdown(rep: dict, evaluation: dict) -> str:
    h = rep.get("held_out") or {}
    lines = [f"# Improve run: {rep['task']}", "",
             f"- policy `{rep['policy']}`, optimizer `{rep['optimizer']}`, update **{rep['update']}**",
             f"- API calls: {len(rep['api_calls'])}, cost {rep['cost_total']:g} "
             f"(budget {rep['budget']['max_calls']} calls / {rep['budget']['max_cost']:g})",
             f"- dataset: {rep['dataset_size']} curated rows of {rep['rows_gathered']} gathered",
             f"- held-out ({rep['judge']}): n={h.get('n')} win={h.get('win')} tie={h.get('tie')} "
             f"lose={h.get('lose')} no_verdict={h.get('no_verdict')} win_rate={h.get('win_rate')} "
             f"adjusted_win_rate={h.get('adjusted_win_rate')}"]
    if rep.get("accuracy"):
        a = rep["accuracy"]
        lines.append(f"- verified accuracy on {a['n']} items: original {a['original']:.0%} -> updated {a['updated']:.0%}")
    if rep.get("parse_gave_up"):
        lines.append(f"- optimizer: {rep['parse_gave_up']}")
    lines += ["", "## API calls", "", "| # | API | argument | cost | status | rows | cached | seconds |", "|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(rep["api_calls"], 1):
        arg = str(c["argument"]).replace("|", "\\|")
        status = c["status"] + (f" ({c['error']})" if c.get("error") else "")
        lines.append(f"| {i} | {c['name']} | {arg} | {c['cost']:g} | {status} | {c['rows']} | {c['cached']} | {c.get('latency_s')} |")
    for d in rep["dropped_calls"]:
        lines.append(f"| - | {d.get('name', '?')} | {d.get('arg', '')} | - | dropped: {d['reason']} | | | |")
    lines += ["", "## Timings (s)", "", " ".join(f"{k} {v:g}" for k, v in rep["timings"].items()), "",
              "## Held-out answers", "", "| instruction | winner | original | updated |", "|---|---|---|---|"]
    for r in evaluation.get("records") or []:
        cell = [str(x).replace("\n", " ").replace("|", "\\|")[:160] for x in (r["instruction"], r["winner"], r["original"], r["updated"])]
        lines.append("| " + " | ".join(cell) + " |")
    return "\n".join(lines) + "\n"


def write_run(state: dict, rep: dict, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    trajectory = {
        "task": state.get("task"), "observed": state.get("observed"),
        "optimizer_replies": state.get("optimizer_replies") or [],
        "parse_log": state.get("parse_log") or [],
        "calls": state.get("calls") or [], "dropped": state.get("dropped") or [],
        "results": [{k: v for k, v in r.items() if k != "rows"} | {"rows": r.get("rows") or []}
                    for r in state.get("results") or []],
        "updated": state.get("updated") or {},
        "evaluation": state.get("evaluation") or {},
    }
    (run_dir / "trajectory.json").write_text(json.dumps(trajectory, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    (run_dir / "report.md").write_text(_markdown(rep, state.get("evaluation") or {}), encoding="utf-8")
