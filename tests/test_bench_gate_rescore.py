"""bench/gate_rescore.py: the gate's recorded answers re-scored on the checks every observed
instruction shares, with lm-eval's real checkers."""

from __future__ import annotations

import json

import yaml

from tests.fakes import bench_script

LOWER = {"id": "change_case:english_lowercase", "kwargs": {}}
NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}}


def test_a_gate_tie_on_two_checks_is_told_apart_on_the_shared_one(tmp_path, capsys):
    gr = bench_script("gate_rescore")
    task = {"name": "lower", "observed": [
        {"instruction": "Describe a cat in lowercase letters only. Do not use any commas.", "checks": [LOWER, NO_COMMA]},
        {"instruction": "Describe a dog in lowercase letters only.", "checks": [LOWER]}],
        "held_out": [{"instruction": "Describe a cow in lowercase letters only.", "checks": [LOWER]}]}
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "lower.yaml").write_text(yaml.safe_dump(task))
    # as run: both checks on the first two, so the update's lowercase answers with commas fail like the
    # original's capitals (1 -> 1, a tie); on the shared check (lowercase) the update passes 3, the original 1
    instructions = [
        {"instruction": "Write about the sea in lowercase letters only. Do not use any commas.",
         "checks": [LOWER["id"], NO_COMMA["id"]], "original": "The Sea Is Wide", "updated": "the sea, wide and deep",
         "original_passed": False, "updated_passed": False},
        {"instruction": "Write about bread in lowercase letters only. Do not use any commas.",
         "checks": [LOWER["id"], NO_COMMA["id"]], "original": "Bread Rises", "updated": "bread, warm and soft",
         "original_passed": False, "updated_passed": False},
        {"instruction": "Name a river in lowercase letters only.", "checks": [LOWER["id"]],
         "original": "the nile", "updated": "the danube", "original_passed": True, "updated_passed": True}]
    cell = tmp_path / "cells" / "lower" / "prompting" / "seed0"
    cell.mkdir(parents=True)
    (cell / "trajectory.json").write_text(json.dumps({"updated": {"gate": {
        "original_passed": 1, "updated_passed": 1, "instructions": instructions}}}))

    from graph.tasks.load import load_task
    r = gr.rescore(json.loads((cell / "trajectory.json").read_text()), load_task(tmp_path / "tasks" / "lower.yaml"))
    assert r == {"as_run": (1, 1), "shared": (1, 3), "items": 3, "shared_ids": [LOWER["id"]]}
    assert gr.main([str(tmp_path / "cells"), str(tmp_path / "tasks")]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split()[:9] == ["lower", "1", "->", "1", "set", "aside", "1", "->", "3"] and "kept" in line
