"""Pin the dev suites: write ``bench/suites/<suite>-seed<N>.json`` from the suites built on this
machine (``$ADS_HOME/tasks/dev-<suite>-seed<N>``, built first where missing), so that every
machine's ``bench/evaluate.py`` measures the same tasks (see graph/tasks/build.py, "Pins").

    .venv/bin/python bench/pin_suites.py --suite nq --seeds 0,1,2

A pin holds row numbers of ../shared/data's file and its SHA-256, none of its text. Re-pinning
changes the suite every later figure is measured on: do it once, and say so beside the figures.
"""

from __future__ import annotations

import argparse
import sys

from evaluate import PINS, ROOT, SHARED, SUITES, suite_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=list(SUITES), required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--force", action="store_true", help="replace a pin that exists")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} not found: the dev suite reads ../shared/data beside the repo")

    from graph.tasks.build import pin, write_pin

    PINS.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        path = PINS / f"{args.suite}-seed{seed}.json"
        if path.exists() and not args.force:
            print(f"{path.relative_to(ROOT)} exists (--force replaces it)")
            continue
        # --force pins this machine's own build (a new suite), not the pin already committed
        data = pin(suite_dir(args.suite, seed, pinned=not args.force), SUITES[args.suite]["source"])
        write_pin(data, path)
        counts = {s: sum(1 for t in data["tasks"].values() if t["split"] == s) for s in ("train", "validation", "test")}
        print(f"{path.relative_to(ROOT)}: {len(data['tasks'])} tasks {counts}")


if __name__ == "__main__":
    main()
