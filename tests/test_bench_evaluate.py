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
