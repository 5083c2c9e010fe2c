"""A real evaluation: three methods on two small tasks built with tasks build, real SmolLM2, real tools."""

from __future__ import annotations

import json

import pytest

from graph.context import Context
from graph.runs import RunStore
from graph.tasks.build import build
from graph.tasks.load import load_tasks

pytestmark = pytest.mark.real

ROWS = [  # two skills; answers stated in the planets' Wikipedia leads of the default corpus
    ("jupiter", "How big is Jupiter compared to Earth?", None),
    ("jupiter", "How many years does Jupiter take to orbit the Sun?", ["11.86", "nearly 12"]),
    ("jupiter", "Counting from the Sun, which planet is Jupiter (first, second, ...)?", ["fifth", "5th"]),
    ("jupiter", "What type of planet is Jupiter?", ["gas giant"]),
    ("mars", "What is the atmosphere of Mars made of?", None),
    ("mars", "What is the mean diameter of Mars in kilometres?", ["6,779", "6779"]),
    ("mars", "Counting from the Sun, which planet is Mars (first, second, ...)?", ["fourth", "4th"]),
    ("mars", "What nickname does Mars have because of its orange-red appearance?", ["Red Planet"]),
]


def test_three_methods_on_two_built_tasks(tmp_path, smollm, corpus):
    src = tmp_path / "planets.jsonl"
    src.write_text("".join(json.dumps({"topic": t, "instruction": q, **({"answers": a} if a else {})}) + "\n"
                           for t, q, a in ROWS))
    manifest = build(src, tmp_path / "tasks", label="topic", observed=1, min_size=4, splits=(0, 0, 1), log=lambda m: None)
    tasks = load_tasks(tmp_path / "tasks", split="test")
    assert len(tasks) == 2 and manifest["splits"]["test"] == ["planets-jupiter", "planets-mars"]
    ctx = Context.build(run_dir=str(tmp_path / "eval"), eval_max_new_tokens=32, max_new_tokens=96,
                        cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"))
    _, values = RunStore(tmp_path / "runs.sqlite").start(
        "evaluate", {"tasks": tasks, "methods": ["original", "retrieval", "rule-qa"]}, ctx)
    rows = {r["method"]: r for r in values["eval_report"]["methods"]}
    assert list(rows) == ["original", "retrieval", "rule-qa"]
    for name in ("retrieval", "rule-qa"):
        r = rows[name]
        held = sum(len(t["held_out"]) for t in tasks)
        assert r["n"] == held and r["win"] + r["tie"] + r["lose"] + r["no_verdict"] == held
        assert r["accuracy_original"] == rows["original"]["accuracy_original"]  # the same original answers
    assert rows["retrieval"]["cost_per_task"] == 1.0 and rows["rule-qa"]["cost_per_task"] == 3.0
    assert rows["retrieval"]["calls_by_api"].get("information_retrieval") == 2
    assert (tmp_path / "eval" / "eval_report.md").exists() and (tmp_path / "eval" / "accuracy_by_method.png").exists()
