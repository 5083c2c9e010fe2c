"""Several runs of the dev suite pooled into one table: the figure over seeds.

Each seed of ``bench/evaluate.py`` builds its own suite (other tasks, other observed and held-out
items, other optimizer samples), so one seed's interval is over 5 tasks. Pooling keeps every cell's
per-item outcomes and tells a task apart by its seed, so the gain and its bootstrap 95% interval
resample (seed, task) pairs, then their items, as the harness does within one run
(``graph.harness.pool``). Writes eval_report.json / .md / plots to --out and prints the table.

    .venv/bin/python bench/pool.py runs/ifeval-test-seed0 runs/ifeval-test-seed1 runs/ifeval-test-seed2 \
        --out runs/ifeval-test-pooled
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from graph import harness

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="folders of finished evaluations (each holds eval_report.json)")
    ap.add_argument("--out", required=True, help="folder for the pooled eval_report.json / .md")
    ap.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    args = ap.parse_args(argv)
    try:
        pooled = harness.pool([harness.read(run) for run in args.runs], seed=args.seed)
    except ValueError as e:
        ap.error(str(e))
    rep = harness.write(pooled, args.out)
    print(harness.markdown(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
