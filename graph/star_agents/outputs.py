"""What a star-agents run leaves in its directory, and the sets its evaluation trains on.

- ``seeds/NNNNN.json``: one record per finished seed (graph/star_agents_seed.py), written when
  the seed finishes; the graph's state keeps only a summary per seed, so checkpoints stay small.
- ``dataset.jsonl``: the kept row of every seed in TRL's conversational format (``messages``),
  with its score, score kind, judge verdict, IFDs, agent pair and the seed it came from.
- ``candidates.jsonl``: every candidate of every seed, scored or with why it is unparsable.
- ``probabilities.csv`` / ``.png`` / ``.json``: p_jk before the first seed and after each one (the
  paper's Figure 5); the JSON is the final p_jk, to start a later run from (``star_probabilities``).
- ``report.json`` / ``report.md``: counts (generated, unparsable, kept, improved, memory-bank rows
  added), settings, timings and, with ``star_held_out``, the evaluation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


def seed_path(run_dir, index: int) -> Path:
    return Path(run_dir) / "seeds" / f"{index:05d}.json"


def records(run_dir, done: list[dict]) -> list[dict]:
    return [json.loads(seed_path(run_dir, d["index"]).read_text(encoding="utf-8")) for d in done]


def trl_row(record: dict, c: dict) -> dict:
    """A candidate as a TRL conversational row that keeps its scores and where it came from."""
    return {"messages": [{"role": "user", "content": c["instruction"]}, {"role": "assistant", "content": c["response"]}],
            "score": c.get("score"), "score_kind": record["score_kind"], "judge": c.get("judge"),
            "verdict": c.get("verdict"), "dual_ifd": c.get("dual_ifd"), "ifd_small": c.get("ifd_small"),
            "ifd_large": c.get("ifd_large"), "pair": c["pair"], "pair_source": c["source"], "models": c["models"],
            "seed": {"index": record["index"], **record["seed"]}}


def training_sets(recs: list[dict]) -> dict[str, list[dict]]:
    """Rows of the paper's comparison: the kept rows, the seed rows, one random candidate per seed."""
    pick = lambda r, key: [r["candidates"][r[key]]] if r.get(key) is not None else []  # noqa: E731
    return {"curated": [trl_row(r, c) for r in recs for c in pick(r, "kept")],
            "seed": [{"instruction": r["seed"]["instruction"], "response": r["seed"]["response"]} for r in recs],
            "random": [trl_row(r, c) for r in recs for c in pick(r, "random")]}


def held_out_items(path: str | Path, n: int) -> list[dict]:
    """The first ``n`` held-out items of a file (``records.read_items``: a task file's held_out or an
    instruction file's rows, with answers and checks, so a verifier decides where they carry one)."""
    from records import read_items

    return read_items(path, n)


def counts(recs: list[dict]) -> dict:
    cands = [c for r in recs for c in r["candidates"]]
    kept = [r["candidates"][r["kept"]] for r in recs if r["kept"] is not None]
    return {"seeds": len(recs), "candidates": len(cands),
            "generated": sum(1 for c in cands if any(c["models"].values())),
            "unparsable": sum(1 for c in cands if c["status"] not in ("ok", "failed checks")),
            "failed_checks": sum(1 for c in cands if c["status"] == "failed checks"),
            "scored": sum(1 for c in cands if c.get("score") is not None),
            "kept": len(kept), "improved": sum(1 for c in kept if c["source"] != "base"),
            "kept_by_pair": {p: sum(1 for c in kept if c["pair"] == p) for p in sorted({c["pair"] for c in kept})},
            "memory_added": sum(r.get("memory_added", 0) for r in recs)}


def write_outputs(run_dir, recs: list[dict], initial: dict, final: dict) -> dict:
    """dataset.jsonl, candidates.jsonl, probabilities.csv/.png/.json; their paths."""
    from records import write_json, write_jsonl

    run_dir = Path(run_dir)
    write_jsonl(run_dir / "dataset.jsonl", [trl_row(r, r["candidates"][r["kept"]]) for r in recs if r["kept"] is not None])
    write_jsonl(run_dir / "candidates.jsonl", [{"seed_index": r["index"], "kept": i == r["kept"], **c}
                                                for r in recs for i, c in enumerate(r["candidates"])])
    pairs = list(initial)
    history = [("start", initial)] + [(str(r["index"]), r["probabilities"]) for r in recs]
    with (run_dir / "probabilities.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["after_seed", *pairs])
        for label, p in history:
            w.writerow([label, *(f"{p.get(k, 0.0):.6f}" for k in pairs)])
    write_json(run_dir / "probabilities.json", {"probabilities": final, "seeds": len(recs)})
    plot_probabilities(history, pairs, run_dir / "probabilities.png")
    return {k: str(run_dir / k) for k in ("dataset.jsonl", "candidates.jsonl", "probabilities.csv",
                                           "probabilities.png", "probabilities.json")}


def plot_probabilities(history: list[tuple[str, dict]], pairs: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = list(range(len(history)))
    for pair in pairs:
        ax.plot(xs, [p.get(pair, 0.0) for _, p in history], marker="o", markersize=3, label=pair)
    ax.set_xlabel("seeds finished")
    ax.set_ylabel("sampling probability p_jk")
    ax.set_title("Star-Agents: agent-pair probabilities over the run")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(report: dict) -> str:
    c, s = report["counts"], report["settings"]
    lines = [f"# Star-Agents on {report['source']}: {c['kept']} rows kept of {c['seeds']} seeds, "
             f"{c['improved']} better than the base pair's sample", "",
             f"- candidates {c['candidates']} (model-written {c['generated']}), unparsable {c['unparsable']}, "
             f"failed the seeds' checks {c.get('failed_checks', 0)}, scored {c['scored']}, memory-bank rows added {c['memory_added']}",
             f"- kept by pair: {', '.join(f'{k} {v}' for k, v in c['kept_by_pair'].items()) or 'none'}",
             f"- score: {', '.join(f'{k} ({v} seeds)' for k, v in report['score_kinds'].items())}",
             f"- policy `{s['policy']}`, judge `{s['judge']}`, large model `{s['star_large_model']}`, "
             f"M={s['star_m']} l={s['star_l']} n={s['star_n']} beta={s['star_beta']}", "",
             "| pair | p start | p end |", "|---|---|---|"]
    lines += [f"| {k} | {report['probabilities']['start'][k]:.3f} | {v:.3f} |"
              for k, v in report["probabilities"]["end"].items()]
    ev = report.get("evaluation")
    if ev:
        lines += ["", f"## LoRA SFT on each set, judged against the original policy on {ev['held_out']} held-out "
                  "instructions", "", "| trained on | rows | win | tie | lose | no verdict | adjusted win rate |",
                  "|---|---|---|---|---|---|---|"]
        for m in ev["methods"]:
            rate = "-" if m.get("adjusted_win_rate") is None else f"{m['adjusted_win_rate']:.3f}"
            lines.append(f"| {m['method']} | {ev['rows'][m['method']]} | {m.get('win')} | {m.get('tie')} | "
                         f"{m.get('lose')} | {m.get('no_verdict')} | {rate} |")
    return "\n".join(lines) + "\n"
