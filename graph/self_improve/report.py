"""A self-improve run's record across iterations: report.json, report.md, metric_by_iteration.png.

Per iteration: the model that wrote the data and the model trained from it, the data kept at each
stage (generated -> each heuristic filter -> answered -> threshold -> perplexity / density ->
trained on), the spread of the self-assessment ratings (where the threshold sits in them), the
adapter, and the held-out measurement against the base policy from the evaluation harness:
the verified accuracy gain where every held-out item has a verifier, else the adjusted win rate of
the pairwise judge, each with its bootstrap 95% interval (graph/eval_report.py).
"""

from __future__ import annotations

from pathlib import Path

from graph.context import Context


def metric(evaluation: dict) -> dict:
    """The iteration's headline number and its interval, in points (gain) or percent (win rate)."""
    if evaluation.get("verified") and evaluation["verified"] == evaluation["n"]:
        ci = evaluation.get("accuracy_gain_ci")
        return {"name": "verified accuracy gain vs the base policy (points)", "baseline": 0.0,
                "value": round(evaluation["accuracy_gain"] * 100, 2), "ci": [round(x * 100, 2) for x in ci] if ci else None}
    value, ci = evaluation.get("adjusted_win_rate"), evaluation.get("adjusted_win_rate_ci")
    return {"name": "adjusted win rate vs the base policy (%)", "baseline": 50.0,
            "value": round(value * 100, 2) if value is not None else None, "ci": [round(x * 100, 2) for x in ci] if ci else None}


def rating_summary(rows: list[dict]) -> dict:
    """min / median / max of each axis over the rated pairs (where the threshold sits in them)."""
    import statistics

    out = {}
    for axis in ("quality", "following"):
        values = [r["assessment"][axis] for r in rows if r["assessment"].get(axis) is not None]
        out[axis] = [round(min(values), 2), round(statistics.median(values), 2), round(max(values), 2)] if values else None
    out["unrated"] = sum(1 for r in rows if r["assessment"].get("assess_score") is None)
    out["reading"] = ", ".join(sorted({r["assessment"].get("reading") or "-" for r in rows})) or None
    return out


def funnel(log: list[dict], iteration: int) -> list[dict]:
    """Rows kept after each stage and filter of one iteration, in order."""
    return [{"stage": e["stage"], "step": e["step"], "in": e["in"], "kept": e["kept"], "dropped": e["dropped"],
             "examples": e.get("examples") or [],
             **{k: e[k] for k in ("samples", "samples_passed", "answers_kept", "samples_edited", "pass_rate_by_check") if k in e}}
            for e in log if e["iteration"] == iteration]


def _count(steps: list[dict], stage: str) -> int | None:
    mine = [s for s in steps if s["stage"] == stage]
    return mine[-1]["kept"] if mine else None


def build(state: dict, ctx: Context) -> dict:
    records = state.get("iterations") or []
    log = state.get("log") or []
    iterations = []
    label = {ctx.policy: "base"} | {rec["model"]: f"iteration {rec['iteration']}'s model" for rec in records
                                      if rec["model"] != ctx.policy}
    for rec in records:
        steps = funnel(log, rec["iteration"])
        ratings = next((s.get("ratings") for s in log if s["iteration"] == rec["iteration"] and "ratings" in s), None)
        ev = rec["evaluation"]
        iterations.append({
            "iteration": rec["iteration"], "generated_by": rec["generated_by"], "model": rec["model"],
            "written_by": label.get(rec["generated_by"], rec["generated_by"]),
            "adapter": rec["updated"].get("adapter"), "note": rec["updated"].get("note"),
            "recipe": rec["updated"].get("recipe"),
            "counts": {"generated": _count(steps, "generate"), "after_heuristics": _count(steps, "filter"),
                       "answered": _count(steps, "respond"), "selected": _count(steps, "select"),
                       "trained_on": rec["updated"].get("rows_used", 0)},
            "funnel": steps, "ratings": ratings, "metric": metric(ev),
            "evaluation": {k: ev.get(k) for k in ("n", "win", "tie", "lose", "no_verdict", "adjusted_win_rate",
                                                  "adjusted_win_rate_ci", "verified", "accuracy_original",
                                                  "accuracy_updated", "accuracy_gain", "accuracy_gain_ci",
                                                  "gained", "lost")},
        })
    verified = bool(iterations) and all(it["metric"]["baseline"] == 0.0 for it in iterations)
    judge = ["verifier (answers / IFEval checks)"] if verified else \
        [f"reward model {ctx.reward_model}" if ctx.reward_model else f"pairwise judge {ctx.judge} in both orders"]
    rep = {"name": state.get("name") or "self-improve", "run_dir": str(Path(ctx.run_dir).resolve()),
           "seeds": len(state.get("seeds") or []), "held_out": len(state.get("held_out") or []),
           "checks": {"every_instruction": state.get("checks") or [], "check_sets": len(state.get("check_sets") or [])},
           "settings": {"policy": ctx.policy, "judge": ctx.judge, "judge_mode": ctx.judge_mode,
                        "judge_reading": ctx.judge_reading, "setting": ctx.isheep_setting,
                        "iterations": ctx.isheep_iterations, "data_size": ctx.isheep_data_size,
                        "threshold": ctx.assess_threshold, "perplexity": ctx.max_perplexity if ctx.isheep_perplexity else None,
                        "density": [ctx.density_clusters, ctx.density_per_cluster] if ctx.isheep_density else None,
                        "sft_recipe": ctx.sft_recipe, "seed": ctx.seed},
           "judge": judge, "iterations": iterations, "outcome": outcome(iterations),
           "timings": {k: round(v, 1) for k, v in (state.get("timings") or {}).items()}}
    out = Path(ctx.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep["plot"] = plot(iterations, out)
    from records import write_report

    write_report(out, "report", rep, markdown(rep))
    return rep


def outcome(iterations: list[dict]) -> dict:
    """The last iteration against the base policy, and whether its interval excludes no change."""
    if not iterations:
        return {"text": "no iteration finished", "last": None}
    last = iterations[-1]
    m = last["metric"]
    if m["value"] is None:
        return {"text": f"iteration {last['iteration']}: no held-out item was decided", "last": None}
    where = ("above" if m["ci"][0] > m["baseline"] else "below" if m["ci"][1] < m["baseline"] else "includes") \
        if m["ci"] else "includes"
    verdict = {"above": "better than the base policy", "below": "worse than the base policy",
               "includes": "not distinguishable from the base policy (the interval includes no change)"}[where]
    best = max(iterations, key=lambda it: it["metric"]["value"] if it["metric"]["value"] is not None else -1e9)
    text = (f"iteration {last['iteration']}: {m['name']} {m['value']:g}"
            + (f" [{m['ci'][0]:g}, {m['ci'][1]:g}]" if m["ci"] else "") + f" on {last['evaluation']['n']} held-out "
            f"instructions: {verdict}; best iteration {best['iteration']} ({best['metric']['value']:g})")
    return {"text": text, "last": m["value"], "where": where, "best_iteration": best["iteration"]}


def recipes(iterations: list[dict]) -> str:
    """The SFT recipes the iterations trained with, by file name ("default": the trainer's own)."""
    names = {r if r == "default" else Path(r).name for it in iterations if (r := it.get("recipe"))}
    return ", ".join(sorted(names)) or "- (nothing trained)"


def markdown(rep: dict) -> str:
    s = rep["settings"]
    name = rep["iterations"][0]["metric"]["name"] if rep["iterations"] else "metric"
    lines = [f"# Self-improve (I-SHEEP): {len(rep['iterations'])} iteration(s), {s['setting']}, {rep['name']}", "",
             rep["outcome"]["text"], "",
             f"- policy `{s['policy']}`; each iteration's current model writes, answers and rates its data; "
             f"{rep['seeds']} seed tasks, {s['data_size']} tasks asked per iteration",
             f"- selection: both self-ratings >= {s['threshold']} (read by "
             f"{', '.join(sorted({(it['ratings'] or {}).get('reading') or '-' for it in rep['iterations']})) or '-'})"
             + (f", perplexity <= {s['perplexity']:g}" if s["perplexity"] is not None else "")
             + (f", density {s['density'][0]} clusters x {s['density'][1]}" if s["density"] else ""),
             f"- update: LoRA SFT ({s['setting']}), recipe {recipes(rep['iterations'])}",
             f"- held-out: {rep['held_out']} instructions, judged by {', '.join(rep['judge']) or '-'}; "
             "intervals: bootstrap 95%", "",
             f"| iteration | written by | generated | after heuristics | answered | selected | trained on | {name} | 95% CI "
             "| win / tie / lose | adapter |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for it in rep["iterations"]:
        c, m, e = it["counts"], it["metric"], it["evaluation"]
        ci = f"[{m['ci'][0]:g}, {m['ci'][1]:g}]" if m["ci"] else "-"
        value = "-" if m["value"] is None else f"{m['value']:g}"
        adapter = it["adapter"] and Path(it["adapter"]).resolve()
        adapter = str(adapter.relative_to(rep["run_dir"])) if adapter and adapter.is_relative_to(rep["run_dir"]) else adapter
        lines.append(f"| {it['iteration']} | {it['written_by']} | {c['generated']} | {c['after_heuristics']} | "
                     f"{c['answered']} | {c['selected']} | {c['trained_on']} | {value} | {ci} | "
                     f"{e['win']} / {e['tie']} / {e['lose']} | {adapter or it['note'] or '-'} |")
    lines += ["", "## Data kept per stage", "", "| iteration | stage | step | in | kept | dropped | e.g. |", "|---|---|---|---|---|---|---|"]
    for it in rep["iterations"]:
        for st in it["funnel"]:
            eg = "; ".join(f"{x['instruction'][:60]!r}: {x['reason']}" for x in st["examples"][:2]) or ""
            lines.append(f"| {it['iteration']} | {st['stage']} | {st['step']} | {st['in']} | {st['kept']} | "
                         f"{st['dropped']} | {eg.replace('|', '/')} |")
    rates = [(it["iteration"], st) for it in rep["iterations"] for st in it["funnel"] if st.get("pass_rate_by_check")]
    if rates:
        lines += ["", "## Verified answers: samples that passed, by check", "",
                  "| iteration | samples passed (all checks) | answers kept (tasks) | pass rate by check |", "|---|---|---|---|"]
        for i, st in rates:
            by = ", ".join(f"{k} {v:.0%}" for k, v in st["pass_rate_by_check"].items())
            edited = f" (+{st['samples_edited']} edited)" if st.get("samples_edited") is not None else ""
            kept = f"{st['answers_kept']} ({st['kept']})" if "answers_kept" in st else "-"
            lines.append(f"| {i} | {st['samples_passed']} / {st['samples']}{edited} | {kept} | {by} |")
    lines += ["", "## Self-assessment ratings (min / median / max)", "", "| iteration | quality | following | unrated |",
              "|---|---|---|---|"]
    for it in rep["iterations"]:
        r = it["ratings"] or {}
        spread = {axis: " / ".join(f"{v:g}" for v in r[axis]) if r.get(axis) else "-" for axis in ("quality", "following")}
        lines.append(f"| {it['iteration']} | {spread['quality']} | {spread['following']} | {r.get('unrated', '-')} |")
    lines += ["", f"Plot: {rep['plot'] or '-'}. Each iteration's files: iter<N>/candidates.jsonl, pairs.jsonl, "
              "dataset.jsonl, dropped_<stage>.jsonl, sft/adapter, eval/eval_report.md.", ""]
    return "\n".join(lines)


def plot(iterations: list[dict], out_dir: Path) -> str | None:
    """The metric by iteration (iteration 0: the base policy) with its 95% intervals."""
    if not iterations:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m0 = iterations[0]["metric"]
    xs, ys, lo, hi = [0], [m0["baseline"]], [0.0], [0.0]
    for it in iterations:
        m = it["metric"]
        if m["value"] is None:
            continue
        xs.append(it["iteration"])
        ys.append(m["value"])
        lo.append(max(m["value"] - m["ci"][0], 0) if m["ci"] else 0)
        hi.append(max(m["ci"][1] - m["value"], 0) if m["ci"] else 0)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=4)
    ax.axhline(m0["baseline"], color="black", linewidth=0.8)
    ax.set_xticks(xs)
    ax.set_xlabel("iteration (0: the base policy)")
    ax.set_ylabel(m0["name"])
    ax.set_title("I-SHEEP: held-out metric by iteration (95% bootstrap interval)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "metric_by_iteration.png", dpi=110)
    plt.close(fig)
    return "metric_by_iteration.png"
