"""bench/pool.py and graph.harness.pool: dev-suite runs of several seeds pooled into one table, a
task told apart by its seed, every item kept."""

from __future__ import annotations

import json

import pytest

from graph import harness
from tests.fakes import bench_script


def cell(task: str, method: str, seed: int, passed: list[tuple[bool, bool]]) -> dict:
    items = [{"task": task, "category": None, "instruction": f"{task} {i}",
              "winner": "A" if a and not b else "B" if b and not a else "tie", "passed": (a, b)}
             for i, (a, b) in enumerate(passed)]
    return {"task": task, "method": method, "update": "sft", "seed": seed, "label": method, "curation": [],
            "category": None, "items": items, "cost": 2.0 if method != "original" else 0.0,
            "api_calls": [{"name": "demonstration_generation", "cost": 2.0, "status": "ok"}] if method != "original" else [],
            "dataset_size": 3, "tokens": 0, "seconds": 1.0, "outcome": "helped" if method != "original" else "no change"}


def report(seed: int, passed: list[tuple[bool, bool]]) -> dict:
    cells = [cell("json", "original", seed, [(b, b) for _, b in passed]), cell("json", "prompting", seed, passed)]
    return {"settings": {"policy": "p", "seeds": [seed], "updates": ["sft"], "run_dir": f"/runs/s{seed}"},
            "cells_detail": cells}


def test_pooled_seeds_keep_every_item_and_count_a_task_once_per_seed():
    pooled = harness.pool([report(0, [(True, False), (True, False), (False, False)]),
                           report(1, [(False, True), (True, True)])])
    rows = {r["method"]: r for r in pooled["methods"]}
    assert rows["prompting"]["n"] == 5 and (rows["prompting"]["gained"], rows["prompting"]["lost"]) == (2, 1)
    assert rows["prompting"]["accuracy_gain"] == pytest.approx(1 / 5)
    assert rows["prompting"]["cells"] == 2 and rows["prompting"]["cost_per_task"] == 2.0
    assert pooled["tasks"] == ["json@seed0", "json@seed1"]  # the same task name under two seeds: two tasks
    assert pooled["settings"]["seeds"] == [0, 1] and pooled["settings"]["pooled"] == ["/runs/s0", "/runs/s1"]
    lo, hi = rows["prompting"]["accuracy_gain_ci"]
    assert lo <= 0.2 <= hi


def test_a_report_without_per_cell_items_cannot_be_pooled():
    with pytest.raises(ValueError, match="without cells_detail"):
        harness.pool([{"methods": [], "settings": {}}])


def test_the_script_writes_the_pooled_report_and_names_a_missing_run(tmp_path, capsys):
    module = bench_script("pool")
    for seed, passed in ((0, [(True, False)]), (1, [(True, False), (False, False)])):
        (tmp_path / f"s{seed}").mkdir()
        (tmp_path / f"s{seed}" / "eval_report.json").write_text(json.dumps(report(seed, passed)))
    assert module.main([str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "pooled")]) == 0
    written = json.loads((tmp_path / "pooled" / "eval_report.json").read_text())
    assert [r["n"] for r in written["methods"]] == [3, 3]
    assert "| prompting | 0.0% -> 66.7% | +66.7 |" in capsys.readouterr().out  # 2 of the 3 items gained
    with pytest.raises(SystemExit):
        module.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert "nowhere/eval_report.json not found" in capsys.readouterr().err
