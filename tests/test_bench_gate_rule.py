"""bench/gate_rule.py: what a stricter gate would have decided in finished evaluations (an update it
sets aside answers the held-out items as the original; a looser rule is refused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import bench_script
from tests.test_bench_pool import cell


def run(tmp_path, seed: int, cells: dict[str, tuple[dict | None, list[tuple[bool, bool]]]]) -> str:
    """A finished evaluation folder: per task, the gate's record of its prompting cell (None: not
    applied) and its items' [updated, original] outcomes."""
    folder = tmp_path / f"seed{seed}"
    detail = []
    for task, (gate, passed) in cells.items():
        run_dir = folder / "cells" / task
        run_dir.mkdir(parents=True)
        record = {"setting": "gain", "applied": True, "items": 8, **gate} if gate else \
            {"setting": "gain", "applied": False, "reason": "the update changed nothing"}
        (run_dir / "report.json").write_text(json.dumps({"update": "sft", "gate": record}))
        detail += [cell(task, "original", seed, [(b, b) for _, b in passed]),
                   {**cell(task, "prompting", seed, passed), "run_dir": str(run_dir)}]
    (folder / "eval_report.json").write_text(json.dumps({"settings": {"seeds": [seed], "run_dir": str(folder)},
                                                         "cells_detail": detail}))
    return str(folder)


def gate(orig: int, up: int, lost: int, kept: bool) -> dict:
    return {"original_passed": orig, "updated_passed": up, "gained": up - orig + lost, "lost": lost, "kept": kept}


def test_strict_sets_aside_a_kept_update_that_failed_a_gate_instruction_the_policy_passed(tmp_path):
    module = bench_script("gate_rule")
    folders = [run(tmp_path, 0, {"highlights": (gate(5, 6, 1, True), [(True, False), (False, True), (False, True)]),
                                 "lowercase": (gate(0, 7, 0, True), [(True, False), (True, False)])}),
               run(tmp_path, 1, {"placeholders": (None, [(True, True)])})]
    reports = [json.loads((Path(f) / "eval_report.json").read_text()) for f in folders]
    rows = {r["rule"]: r for r in module.table(reports, ["gain", "strict", "no-loss"], "prompting")}
    assert (rows["gain"]["gained"], rows["gain"]["lost"], rows["gain"]["items"]) == (3, 2, 6)
    assert rows["gain"]["tasks_losing_2"] == ["highlights@seed0"] and rows["gain"]["changed"] == []
    assert rows["no-loss"] == {**rows["gain"], "rule": "no-loss"}  # keeps what gain kept: as run
    assert (rows["strict"]["gained"], rows["strict"]["lost"], rows["strict"]["tasks_losing_2"]) == (2, 0, [])
    assert rows["strict"]["changed"] == [{"task": "highlights", "seed": 0, "gate": "5 -> 6 of 8, 1 lost",
                                          "gained": 1, "lost": 2}]
    assert rows["strict"]["gain"] == pytest.approx(2 / 6)
    assert reports[0]["cells_detail"][1]["items"][0]["passed"] == [True, False]  # the reports read are not changed


def test_the_script_prints_a_row_per_rule_and_refuses_a_looser_one(tmp_path, capsys):
    module = bench_script("gate_rule")
    folder = run(tmp_path, 0, {"highlights": (gate(5, 6, 1, True), [(False, True), (False, True)]),
                               "capitals": (gate(4, 4, 0, False), [(False, False)])})
    assert module.main([folder, "--rules", "gain,strict"]) == 0
    out = capsys.readouterr().out
    assert "| gain | -66.7 [-100.0, +0.0] | 0 / 2 of 3 | highlights@seed0 | - |" in out
    assert "| strict | +0.0 [+0.0, +0.0] | 0 / 0 of 3 | none | highlights@0: 5 -> 6 of 8, 1 lost, 0 / 2 |" in out
    with pytest.raises(SystemExit, match="gate=no-loss would keep the update of capitals"):
        module.main([folder, "--rules", "no-loss"])
    with pytest.raises(SystemExit):
        module.main([folder, "--rules", "loose"])
    assert "name one or more of gain, strict, no-loss, off" in capsys.readouterr().err
