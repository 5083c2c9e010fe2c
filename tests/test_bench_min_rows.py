"""bench/min_rows.py: what sft_min_rows would have done to finished evaluations (an update trained on
fewer rows than the threshold is skipped, its held-out answers become the original's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import bench_script
from tests.test_bench_pool import cell


def run(tmp_path, seed: int, cells: dict[str, tuple[int | None, list[tuple[bool, bool]]]]) -> str:
    """A finished evaluation folder: per task, the rows its prompting update trained on (None: no
    adapter) and its items' [updated, original] outcomes; each cell's run folder holds its report.json."""
    folder = tmp_path / f"seed{seed}"
    detail = []
    for task, (rows, passed) in cells.items():
        run_dir = folder / "cells" / task
        run_dir.mkdir(parents=True)
        updated = {"kind": "sft", "rows_used": rows, "adapter": str(run_dir / "sft/adapter")} if rows else \
            {"kind": "sft", "rows_used": 0}
        (run_dir / "report.json").write_text(json.dumps({"update": "sft", "dataset_size": rows or 0,
                                                         "updated_policy": updated}))
        detail += [cell(task, "original", seed, [(b, b) for _, b in passed]),
                   {**cell(task, "prompting", seed, passed), "run_dir": str(run_dir)}]
    (folder / "eval_report.json").write_text(json.dumps({"settings": {"seeds": [seed], "run_dir": str(folder)},
                                                         "cells_detail": detail}))
    return str(folder)


def test_an_update_on_fewer_rows_than_the_threshold_answers_as_the_original(tmp_path):
    module = bench_script("min_rows")
    folders = [run(tmp_path, 0, {"small": (6, [(True, False), (False, True), (False, True)]),
                              "large": (30, [(True, False), (True, False), (True, True)])}),
            run(tmp_path, 1, {"none": (None, [(False, False), (True, True)])})]
    reports = [json.loads((Path(f) / "eval_report.json").read_text()) for f in folders]
    rows = {r["threshold"]: r for r in module.table(reports, [0, 6, 7, 31], "prompting")}
    assert (rows[0]["gained"], rows[0]["lost"], rows[0]["items"]) == (3, 2, 8)
    assert rows[0]["tasks_losing_2"] == ["small@seed0"] and rows[0]["changed"] == []
    assert rows[6] == {**rows[0], "threshold": 6}  # 6 rows is not fewer than 6: trained as run
    assert (rows[7]["gained"], rows[7]["lost"], rows[7]["tasks_losing_2"]) == (2, 0, [])
    assert rows[7]["changed"] == [{"task": "small", "seed": 0, "rows": 6, "gained": 1, "lost": 2}]
    assert rows[7]["gain"] == pytest.approx(2 / 8)
    # at 31 the large update goes too; the cell that trained no adapter is never counted as skipped
    assert (rows[31]["gained"], rows[31]["lost"]) == (0, 0) and [c["task"] for c in rows[31]["changed"]] == ["small", "large"]
    assert reports[0]["cells_detail"][1]["items"][0]["passed"] == [True, False]  # the reports read are not changed


def test_the_script_prints_a_row_per_threshold_and_names_what_is_missing(tmp_path, capsys):
    module = bench_script("min_rows")
    folder = run(tmp_path, 0, {"small": (4, [(False, True), (False, True)])})
    assert module.main([folder, "--thresholds", "0,5"]) == 0
    out = capsys.readouterr().out
    assert "| 0 | -100.0 [-100.0, -100.0] | 0 / 2 of 2 | small@seed0 | - |" in out
    assert "| 5 | +0.0 [+0.0, +0.0] | 0 / 0 of 2 | none | small@0: 4, 0 / 2 |" in out
    with pytest.raises(SystemExit):
        module.main([folder, "--thresholds", "ten"])
    assert "give whole numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        module.main([str(tmp_path / "nowhere")])
    assert "nowhere/eval_report.json not found" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "eval_report.json").write_text("{")
    with pytest.raises(SystemExit):
        module.main([str(tmp_path / "broken")])
    assert "is not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no 'icl' cells"):
        module.main([folder, "--method", "icl"])
    (tmp_path / "seed0" / "cells" / "small" / "report.json").unlink()
    with pytest.raises(SystemExit, match="report.json not found"):
        module.main([folder])
