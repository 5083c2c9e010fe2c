"""What ``sft_min_rows`` would have done to finished evaluations, without running a model.

``sft_min_rows=N`` (``graph/context.py``) skips a LoRA SFT update made on fewer than N curated rows:
the run gathers and curates exactly as before (the threshold acts after curation), and the held-out
items are answered by the policy it started from. So for every cell of ``bench/evaluate.py`` whose
update trained an adapter on fewer than N rows, the updated answers become the original's (each
item's ``passed`` is ``[updated, original]``: the first takes the second's value, the item ties);
every other cell is unchanged. The script pools the runs (``graph.harness.pool``: tasks told apart
by seed, the bootstrap over (seed, task) pairs and items) once per threshold and prints, per
threshold, the method's gain with its 95% interval, items gained / lost, and the tasks that lose
more than one item; then the cells a threshold changes. A threshold is chosen on the validation
split's runs and reported on the test split's (docs/results.md, "Too few rows").

    .venv/bin/python bench/min_rows.py runs/ifeval-val-seed0 runs/ifeval-val-seed1 runs/ifeval-val-seed2 \
        --thresholds 0,5,10,15,20
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cell_report(cell: dict) -> dict | None:
    """The report.json of a harness cell's run (None where the cell has no run folder)."""
    run_dir = cell.get("run_dir")
    if not run_dir:
        return None
    path = Path(run_dir) / "report.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: the cell's run folder is gone; run that evaluation again")
    return json.loads(path.read_text())


def as_original(cell: dict) -> None:
    """The cell as it reads when its update is not made: each item's updated outcome is the
    original's (``passed`` is ``[updated, original]``), every item a tie."""
    for item in cell["items"]:
        if item.get("passed") is not None:
            item["passed"] = [item["passed"][1], item["passed"][1]]
        item["winner"] = "tie"
    cell["outcome"] = "no change"


def trained_rows(cell: dict) -> int | None:
    """The number of curated rows the cell's update trained a LoRA adapter on, or None when it trained
    none (no SFT update, no rows, or already skipped)."""
    rep = cell_report(cell)
    if rep is None:
        return None
    updated = rep.get("updated_policy") or {}
    if rep.get("update") != "sft" or not updated.get("adapter"):
        return None
    return int(updated.get("rows_used", rep.get("dataset_size", 0)))


def without_small_updates(report: dict, threshold: int, method: str) -> tuple[dict, list[dict]]:
    """``report`` as it would read had ``sft_min_rows=threshold`` been set for ``method``'s cells, and
    the cells that changed (task, seed, rows, gained / lost before)."""
    out = copy.deepcopy(report)
    changed = []
    for cell in out["cells_detail"]:
        if cell["method"] != method:
            continue
        rows = trained_rows(cell)
        if rows is None or rows >= threshold:
            continue
        won, lost = gained_lost(cell["items"])
        changed.append({"task": cell["task"], "seed": cell.get("seed", 0), "rows": rows, "gained": won, "lost": lost})
        as_original(cell)
    return out, changed


def gained_lost(items: list[dict]) -> tuple[int, int]:
    pairs = [tuple(i["passed"]) for i in items if i.get("passed") is not None]
    return sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)


def table(reports: list[dict], thresholds: list[int], method: str, seed: int = 0) -> list[dict]:
    """One row per threshold: gain, its interval, gained / lost, the tasks losing more than one item,
    and the cells the threshold changed."""
    return [{"threshold": n, **row} for n, row in zip(thresholds, pooled_rows(
        reports, [lambda r, n=n: without_small_updates(r, n, method) for n in thresholds], method, seed=seed))]


def pooled_rows(reports: list[dict], variants: list, method: str, seed: int = 0) -> list[dict]:
    """Per variant (a function of one report returning it as the variant would read, and the cells it
    changed): the runs pooled, and the method's gain, interval, gained / lost, items, the tasks losing
    more than one item, and the changed cells."""
    from graph import harness

    rows = []
    for variant in variants:
        pairs = [variant(r) for r in reports]
        pooled = harness.pool([p[0] for p in pairs], seed=seed)
        row = next((m for m in pooled["methods"] if m["method"] == method), None)
        if row is None:
            raise SystemExit(f"no {method!r} cells in these runs: pass --method with one of "
                             f"{sorted({m['method'] for m in pooled['methods']})}")
        cells = [c for c in pooled["cells_detail"] if c["method"] == method]
        per_task = [(c["task"], *gained_lost(c["items"])) for c in cells]
        rows.append({"gain": row.get("accuracy_gain"), "ci": row.get("accuracy_gain_ci"),
                     "gained": sum(w for _, w, _ in per_task), "lost": sum(l for _, _, l in per_task),
                     "items": sum(len(c["items"]) for c in cells),
                     "tasks_losing_2": [t for t, _, l in per_task if l > 1],
                     "changed": [c for p in pairs for c in p[1]]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="folders of finished bench/evaluate.py runs (each holds eval_report.json)")
    ap.add_argument("--thresholds", default="0,5,10,15,20", help="comma-separated sft_min_rows values to weigh")
    ap.add_argument("--method", default="prompting", help="the harness method whose update is weighed")
    ap.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    args = ap.parse_args(argv)
    try:
        thresholds = [int(t) for t in args.thresholds.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--thresholds {args.thresholds!r}: give whole numbers separated by commas, e.g. 0,10,15")
    from graph import harness

    try:
        reports = [harness.read(run) for run in args.runs]
    except ValueError as e:
        ap.error(str(e))
    print("| sft_min_rows | gain [95% CI] | gained / lost | tasks losing > 1 | updates skipped (task@seed: rows, gained / lost) |")
    print("|---|---|---|---|---|")
    for r in table(reports, thresholds, args.method, seed=args.seed):
        gain = "-" if r["gain"] is None else f"{r['gain'] * 100:+.1f}"
        ci = f"[{r['ci'][0] * 100:+.1f}, {r['ci'][1] * 100:+.1f}]" if r["ci"] else "-"
        skipped = "; ".join(f"{c['task']}@{c['seed']}: {c['rows']}, {c['gained']} / {c['lost']}" for c in r["changed"])
        print(f"| {r['threshold']} | {gain} {ci} | {r['gained']} / {r['lost']} of {r['items']} | "
              f"{', '.join(r['tasks_losing_2']) or 'none'} | {skipped or '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
