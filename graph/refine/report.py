"""refine_report.json / .md and refine.png: per iteration, the trajectories' rewards and costs, the
pairs, the training, and the refined optimizer against the prompting baseline on validation tasks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from graph.context import Context


def _side(kind: str) -> str:
    """A trajectory's kind as a pair names it: ``sample`` for any sampled one, else the default plan."""
    return "sample" if kind.startswith("sample:") else kind


def summary(state: dict) -> dict:
    iterations = []
    for rec in state.get("iterations") or []:
        if not rec.get("validated"):
            continue
        i = rec["iteration"]
        trajs = [t for k, ts in (state.get("rewarded") or {}).items() if k.startswith(f"{i}|") for t in ts]
        sampled = [t for t in trajs if t["kind"].startswith("sample:")]
        stats = [s for s in state.get("reward_stats") or [] if s["iteration"] == i]
        row = {"iteration": i, "method": rec["method"], "optimizer": rec["optimizer_before"],
               "refined_optimizer": rec.get("optimizer_after"), "adapter": rec.get("adapter"),
               "trajectories": len(trajs), "pairs": len(rec["pairs"]), "tasks_without_pair": rec["tasks_without_pair"],
               "pairs_from": rec.get("pairs_from", "all"),
               "pair_kinds": dict(Counter(f"{_side(p['chosen_kind'])} > {_side(p['rejected_kind'])}" for p in rec["pairs"])),
               "reply_rows": rec.get("reply_rows"), "anticipation_rows": rec.get("anticipation_rows"),
               "replies_without_effect": rec.get("replies_without_effect"),
               "sampled_parse_rate": round(sum(t["parsed"] for t in sampled) / len(sampled), 3) if sampled else None,
               "sampled_mean_reward": round(sum(t["reward"] for t in sampled) / len(sampled), 4) if sampled else None,
               "sampled_mean_cost": round(sum(t["cost"] for t in sampled) / len(sampled), 3) if sampled else None,
               "best_reward_mean": round(sum(max(t["reward"] for t in trajs if t["task"] == task) for task in
                                             {t["task"] for t in trajs}) / max(len({t["task"] for t in trajs}), 1), 4)
               if trajs else None,
               "rewards_measured": sum(s["measured"] for s in stats), "reward_cache_hits": sum(s["cache_hits"] for s in stats),
               "reward_seconds": round(sum(s["seconds"] for s in stats), 1), "note": rec.get("note")}
        for name, v in (rec.get("validation") or {}).items():
            row[f"validation_{name}"] = {k: v.get(k) for k in ("accuracy_gain", "accuracy_gain_ci", "adjusted_win_rate",
                                                               "cost_per_task", "calls_by_api", "parse_rate", "gained", "lost")}
        iterations.append(row)
    return {"iterations": iterations, "optimizers": state.get("optimizers") or [],
            "train_tasks": [t["task"] for t in state.get("train") or []],
            "validation_tasks": [t["task"] for t in state.get("validation") or []]}


def _gain(v: dict | None) -> str:
    if not v or v.get("accuracy_gain") is None:
        return "-" if not v or v.get("adjusted_win_rate") is None else f"adj. win {v['adjusted_win_rate']:.3f}"
    return f"{v['accuracy_gain'] * 100:+.1f} pts"


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


def markdown(rep: dict) -> str:
    lines = [f"# Refine: {len(rep['train_tasks'])} training task(s), {len(rep['validation_tasks'])} validation task(s)", "",
             "| iter | method | trajectories | pairs | rows: reply / anticipated | sampled parse rate | sampled reward / cost | "
             "rewards measured / cached | validation: prompting | validation: refined | refined cost / task | refined calls |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["iterations"]:
        vp, vr = r.get("validation_prompting"), r.get("validation_refined")
        calls = ", ".join(f"{k.split('_')[0]} {v}" for k, v in ((vr or {}).get("calls_by_api") or {}).items()) or "-"
        lines.append(f"| {r['iteration']} | {r['method']} | {r['trajectories']} | {r['pairs']} | "
                     f"{_count(r.get('reply_rows'))} / {_count(r.get('anticipation_rows'))} | {r['sampled_parse_rate']} | "
                     f"{r['sampled_mean_reward']} / {r['sampled_mean_cost']} | {r['rewards_measured']} / {r['reward_cache_hits']} | "
                     f"{_gain(vp)} | {_gain(vr)} | {(vr or {}).get('cost_per_task', '-')} | {calls} |")
    kinds = [f"- {r['iteration']} (from {r.get('pairs_from', 'all')}): "
             + (", ".join(f"{k} x{n}" for k, n in r["pair_kinds"].items()) or "none") for r in rep["iterations"] if "pair_kinds" in r]
    if kinds:
        lines += ["", "Pairs by iteration, chosen > rejected:", "", *kinds]
    idle = [f"- {r['iteration']}: {r['replies_without_effect']} of {r['pairs']} pair(s)" for r in rep["iterations"]
            if r.get("replies_without_effect")]
    if idle:
        lines += ["", "Replies not trained: their plan left the reply no room under max_calls, so nothing they "
                      "said was bought and their reward is the anticipation's:", "", *idle]
    lines += ["", "Optimizers by iteration (use one with improve --optimizer SPEC):", ""]
    lines += [f"- {i}: `{spec}`" for i, spec in enumerate(rep["optimizers"])]
    return "\n".join(lines) + "\n"


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rep["iterations"]
    xs = [r["iteration"] for r in rows]

    def gain(v):
        if not v:
            return 0.0
        return (v["accuracy_gain"] * 100) if v.get("accuracy_gain") is not None else ((v.get("adjusted_win_rate") or 0.5) - 0.5) * 100

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(xs, [gain(r.get("validation_prompting")) for r in rows], "o--", label="prompting (untrained)")
    a.plot(xs, [gain(r.get("validation_refined")) for r in rows], "o-", label="refined")
    a.set_xlabel("iteration")
    a.set_ylabel("validation gain (points)")
    a.legend(fontsize=8)
    b.plot(xs, [(r.get("validation_prompting") or {}).get("cost_per_task", 0) for r in rows], "o--", label="prompting")
    b.plot(xs, [(r.get("validation_refined") or {}).get("cost_per_task", 0) for r in rows], "o-", label="refined")
    b.set_xlabel("iteration")
    b.set_ylabel("API cost per task")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(state: dict, ctx: Context) -> dict:
    out = Path(ctx.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = summary(state)
    if rep["iterations"]:
        plot(rep, out / "refine.png")
    from records import write_report

    write_report(out, "refine_report", rep, markdown(rep))
    return rep
