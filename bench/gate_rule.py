"""What a stricter gate would have decided in finished evaluations, without running a model.

The gate (``graph/improve/gate.py``) records, in each cell's report.json, how many of its own
instructions the policy passed before and after the update and how many it failed after that it
passed before (``lost``). A stricter rule (``strict`` against the default ``gain``) only sets aside
more updates, and a set-aside update answers the held-out items with the policy the run started
from: so for every cell whose kept update the rule would set aside, the updated answers become the
original's (each item's ``passed`` is ``[updated, original]``), as ``bench/min_rows.py`` does for
``sft_min_rows``. A looser rule would keep updates whose held-out answers were never asked: such a
cell is named and the rule refused. The runs are pooled (``graph.harness.pool``) once per rule; it
prints per rule the gain with its 95% interval, gained / lost, the tasks losing more than one item,
and the cells the rule changes. A rule is chosen on the validation split's runs and reported on
the test split's.

    .venv/bin/python bench/gate_rule.py runs/ifeval-val-seed0 runs/ifeval-val-seed1 runs/ifeval-val-seed2 \\
        --rules gain,strict
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.min_rows import as_original, cell_report, gained_lost, pooled_rows  # noqa: E402


def gate_record(cell: dict) -> dict | None:
    """The gate's record of a cell's run (None where the cell has no run folder or no gate applied)."""
    gate = (cell_report(cell) or {}).get("gate") or {}
    return gate if gate.get("applied") and "original_passed" in gate else None


def under_rule(report: dict, rule: str, method: str) -> tuple[dict, list[dict]]:
    """``report`` as it would read had ``gate=rule`` been set for ``method``'s cells, and the cells
    it changed. Raises SystemExit where the rule would keep an update the run set aside."""
    from graph.improve.gate import keeps

    out = copy.deepcopy(report)
    changed = []
    for cell in out["cells_detail"]:
        if cell["method"] != method or (gate := gate_record(cell)) is None:
            continue
        now = keeps(rule, gate["updated_passed"], gate["original_passed"], gate.get("lost") or 0)
        if now == gate["kept"]:
            continue
        if now:
            raise SystemExit(f"gate={rule} would keep the update of {cell['task']} (seed {cell.get('seed', 0)}) that "
                             f"gate={gate['setting']} set aside: its held-out answers were never asked; re-run that "
                             f"cell with --set gate={rule}")
        won, lost = gained_lost(cell["items"])
        changed.append({"task": cell["task"], "seed": cell.get("seed", 0), "gate": f"{gate['original_passed']} -> "
                        f"{gate['updated_passed']} of {gate['items']}, {gate.get('lost') or 0} lost",
                        "gained": won, "lost": lost})
        as_original(cell)
    return out, changed


def table(reports: list[dict], rules: list[str], method: str, seed: int = 0) -> list[dict]:
    """One row per rule: gain, its interval, gained / lost, tasks losing more than one item, the
    cells the rule changed."""
    return [{"rule": rule, **row} for rule, row in zip(rules, pooled_rows(
        reports, [lambda r, rule=rule: under_rule(r, rule, method) for rule in rules], method, seed=seed))]


def main(argv: list[str] | None = None) -> int:
    from graph.options import GATES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="folders of finished bench/evaluate.py runs (each holds eval_report.json)")
    ap.add_argument("--rules", default="gain,strict", help=f"comma-separated gate rules to weigh, of {', '.join(GATES)}")
    ap.add_argument("--method", default="prompting", help="the harness method whose update is weighed")
    ap.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    args = ap.parse_args(argv)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not rules or any(r not in GATES for r in rules):
        ap.error(f"--rules {args.rules!r}: name one or more of {', '.join(GATES)}")
    from graph import harness

    try:
        reports = [harness.read(run) for run in args.runs]
    except ValueError as e:
        ap.error(str(e))
    print("| gate | gain [95% CI] | gained / lost | tasks losing > 1 | updates set aside (task@seed: gate, held-out gained / lost) |")
    print("|---|---|---|---|---|")
    for r in table(reports, rules, args.method, seed=args.seed):
        gain = "-" if r["gain"] is None else f"{r['gain'] * 100:+.1f}"
        ci = f"[{r['ci'][0] * 100:+.1f}, {r['ci'][1] * 100:+.1f}]" if r["ci"] else "-"
        aside = "; ".join(f"{c['task']}@{c['seed']}: {c['gate']}, {c['gained']} / {c['lost']}" for c in r["changed"])
        print(f"| {r['rule']} | {gain} {ci} | {r['gained']} / {r['lost']} of {r['items']} | "
              f"{', '.join(r['tasks_losing_2']) or 'none'} | {aside or '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
