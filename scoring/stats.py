"""Aggregates over many tasks: per-method rates with bootstrap 95% intervals over tasks and items.

Input is a table of per-item outcomes, one row per (task, item) of a method, each with:
``winner`` ("A" updated better, "B" original better, "tie", None = no verdict) and, for verified
items, ``passed`` = (updated passes, original passes).

* ``summarize_items(rows)``: counts and rates (win / tie / lose / no verdict, win rate and adjusted
  win rate over decided items, verified accuracy of both policies and its gain, paired gained / lost);
* ``bootstrap(rows, stat)``: a two-level (tasks, then items within each drawn task) percentile
  bootstrap of any statistic of the table, seeded, so differences between methods on the same
  tasks are resampled with the task-to-task variation that dominates small suites.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Callable, Sequence

Row = dict


def summarize_items(rows: Sequence[Row]) -> dict:
    win = sum(r["winner"] == "A" for r in rows)
    lose = sum(r["winner"] == "B" for r in rows)
    tie = sum(r["winner"] == "tie" for r in rows)
    decided = win + tie + lose
    verified = [r["passed"] for r in rows if r.get("passed") is not None]
    out = {"n": len(rows), "win": win, "tie": tie, "lose": lose, "no_verdict": len(rows) - decided,
           "win_rate": win / decided if decided else None,
           "adjusted_win_rate": (win + 0.5 * tie) / decided if decided else None,
           "verified": len(verified)}
    if verified:
        n = len(verified)
        out.update(accuracy_original=sum(b for _, b in verified) / n, accuracy_updated=sum(a for a, _ in verified) / n,
                   gained=sum(bool(a and not b) for a, b in verified), lost=sum(bool(b and not a) for a, b in verified))
        out["accuracy_gain"] = out["accuracy_updated"] - out["accuracy_original"]
    return out


def accuracy_gain(rows: Sequence[Row]) -> float | None:
    verified = [r["passed"] for r in rows if r.get("passed") is not None]
    return sum(int(a) - int(b) for a, b in verified) / len(verified) if verified else None


def adjusted_win_rate(rows: Sequence[Row]) -> float | None:
    return summarize_items(rows)["adjusted_win_rate"]


def bootstrap(rows: Sequence[Row], stat: Callable[[Sequence[Row]], float | None], *, samples: int = 1000,
              seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of ``stat`` under resampling tasks, then items within each drawn task.
    None when the statistic is undefined on the table (e.g. no verified item)."""
    if stat(rows) is None:
        return None
    by_task: dict = defaultdict(list)
    for r in rows:
        by_task[r.get("task")].append(r)
    tasks = list(by_task.values())
    rng = random.Random(seed)
    values = []
    for _ in range(samples):
        drawn = []
        for _ in tasks:
            items = tasks[rng.randrange(len(tasks))]
            drawn += [items[rng.randrange(len(items))] for _ in items]
        v = stat(drawn)
        if v is not None:
            values.append(v)
    if not values:
        return None
    values.sort()
    lo = values[int((1 - level) / 2 * (len(values) - 1))]
    hi = values[int((1 + level) / 2 * (len(values) - 1))]
    return (lo, hi)
