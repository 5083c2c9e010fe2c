"""bench/evaluate.py --unseen-by: another seed's tasks measured only on questions a training split
never held."""

from __future__ import annotations

from tests.fakes import bench_script


def test_unseen_drops_questions_a_training_task_held_and_tasks_left_empty():
    evaluate = bench_script("evaluate")
    seen = [{"observed": ["Who wrote Hamlet?"], "held_out": [{"instruction": "Who painted the Mona Lisa?", "answers": ["da Vinci"]}]}]
    tasks = [{"task": "a", "observed": ["x"], "held_out": [{"instruction": "who  wrote hamlet?", "answers": ["S"]},
                                                          {"instruction": "Who built Rome?", "answers": ["R"]}]},
             {"task": "b", "observed": ["y"], "held_out": [{"instruction": "Who painted the Mona Lisa?", "answers": ["da Vinci"]}]}]
    kept, dropped = evaluate.unseen(tasks, seen)
    assert dropped == 2 and [t["task"] for t in kept] == ["a"]
    assert [it["instruction"] for it in kept[0]["held_out"]] == ["Who built Rome?"]
    assert len(tasks[0]["held_out"]) == 2  # the suite's own tasks are left as they were


def test_suite_dir_writes_a_pinned_suite_and_replaces_a_machine_build(tmp_path, monkeypatch):
    import json

    from graph.tasks.build import build, pin
    from graph.tasks.load import load_tasks

    evaluate = bench_script("evaluate")
    src = tmp_path / "wiz.jsonl"
    src.write_text("".join(json.dumps({"Skill": s, "Instruction": f"{s} task {i}?"}) + "\n"
                           for s in ("Math", "Poetry", "Chess") for i in range(8)))
    build(src, tmp_path / "built", name="wiz", label="Skill", splits=(1, 1, 1), seed=1, log=lambda m: None)
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins" / "wiz-seed1.json").write_text(json.dumps(pin(tmp_path / "built", src)))
    monkeypatch.setenv("ADS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(evaluate, "PINS", tmp_path / "pins")
    monkeypatch.setitem(evaluate.SUITES, "wiz", {"source": src, "label": "Skill"})
    stale = tmp_path / "home" / "tasks" / "dev-wiz-seed1"  # another machine's build: other tasks
    build(src, stale, name="wiz", label="Skill", splits=(1, 1, 1), seed=5, log=lambda m: None)
    folder = evaluate.suite_dir("wiz", 1)
    assert folder == stale
    for split in ("train", "validation", "test"):
        assert load_tasks(folder, split=split) == load_tasks(tmp_path / "built", split=split)
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert evaluate.suite_dir("wiz", 1) == folder and (folder / "manifest.json").stat().st_mtime_ns == stamp
    own = evaluate.suite_dir("wiz", 1, pinned=False)  # to pin anew: this machine's build, not the pin's
    assert "pinned" not in json.loads((own / "manifest.json").read_text())
    build(src, tmp_path / "seed1", name="wiz", label="Skill", splits=(1, 1, 1), seed=1, log=lambda m: None)
    assert load_tasks(own, split="test") == load_tasks(tmp_path / "seed1", split="test")
