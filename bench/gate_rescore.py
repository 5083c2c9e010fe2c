"""What the gate would have decided had it scored its instructions on the task's shared checks only.

The gate (``graph/improve/gate.py``) scores each of its instructions on every check of the observed
instruction it was written after; on an IFEval task most observed instructions carry a second check
besides the one the task is about (highlighted sections *and* 350 words), which a 135M policy fails
before and after the update alike, so the gate ties at 0. This script reads the gate's record in each
finished cell of ``bench/evaluate.py`` (trajectory.json: the instructions as asked, both answers) and
re-scores both answers on the checks that every observed instruction of the task shares (and the
task's own), with lm-eval's checkers: no model runs, the answers are the ones the gate saw. It prints,
per task, the gate's counts as run and as re-scored, and which way each rule goes.

    .venv/bin/python bench/gate_rescore.py runs/ifeval-val/cells ~/.cache/ads/tasks/dev-ifeval-seed0/validation
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def shared_checks(task: dict) -> set[str]:
    """The check ids every observed instruction of the task carries, and the task's own."""
    per = [{c["id"] for c in cs} for cs in (task.get("observed_checks") or {}).values()]
    return (set.intersection(*per) if per else set()) | {c["id"] for c in task.get("checks") or []}


def source_checks(task: dict, asked: str, ids: list[str]) -> list[dict]:
    """The checks (with kwargs) of the observed instruction the gate instruction ``asked`` took its
    checks from: the one with the same check ids whose every check sentence the asked text states
    (the gate states its checks after the instruction), else the first with the same ids."""
    from scoring.verify import describe_checks

    same = [cs for cs in (task.get("observed_checks") or {}).values() if [c["id"] for c in cs] == ids]
    if not same:
        raise SystemExit(f"no observed instruction of {task['task']} carries the checks {ids}: wrong task folder?")
    stated = [cs for cs in same if all(d in asked for d in describe_checks(cs))]
    return (stated or same)[0]


def rescore(trajectory: dict, task: dict) -> dict | None:
    """{as_run: (before, after), shared: (before, after), items} or None where the gate was not applied."""
    from scoring.verify import failed_checks

    updated = trajectory.get("updated") or {}
    record = updated.get("gate") or {}
    if not record.get("instructions"):
        return None
    keep = shared_checks(task)
    before = after = 0
    for it in record["instructions"]:
        checks = ([{"id": i, "kwargs": k} for i, k in zip(it["checks"], it["kwargs"])] if "kwargs" in it
                  else source_checks(task, it["instruction"], it["checks"]))  # records before kwargs were kept
        checks = [c for c in checks if c["id"] in keep] or checks
        before += not failed_checks(checks, it["original"], prompt=it["instruction"])
        after += not failed_checks(checks, it["updated"], prompt=it["instruction"])
    return {"as_run": (record["original_passed"], record["updated_passed"]), "shared": (before, after),
            "items": len(record["instructions"]), "shared_ids": sorted(keep)}


def main(argv: list[str] | None = None) -> int:
    from graph.tasks.load import load_task

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", help="an evaluation's cells/ folder (cells/<task>/<method>/seed<N>/trajectory.json)")
    ap.add_argument("tasks", help="the split's task folder the evaluation ran on")
    ap.add_argument("--method", default="prompting")
    args = ap.parse_args(argv)
    found = sorted(Path(args.cells).glob(f"*/{args.method}/seed*/trajectory.json"))
    if not found:
        raise SystemExit(f"{args.cells}: no */{args.method}/seed*/trajectory.json (a finished bench/evaluate.py run's cells/)")
    print(f"{'task':48} {'as run':>8} {'gain':>10} {'shared':>8} {'gain':>10}")
    for path in found:
        name = path.parts[-4]
        task_file = next((p for p in Path(args.tasks).glob(f"{name}.*")), None)
        if task_file is None:
            raise SystemExit(f"{args.tasks}: no task file for {name}")
        r = rescore(json.loads(path.read_text()), load_task(task_file))
        if r is None:
            print(f"{name:48} gate not applied")
            continue
        (b, a), (sb, sa) = r["as_run"], r["shared"]
        print(f"{name:48} {b:>3} -> {a:<3} {'kept' if a > b else 'set aside':>10} {sb:>3} -> {sa:<3} "
              f"{'kept' if sa > sb else 'set aside':>10}   (of {r['items']}; shared: {', '.join(r['shared_ids'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
