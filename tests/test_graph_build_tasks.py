"""tasks build (graph/build_tasks.py): grouping, the knowledge filter, splits, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from graph.tasks.build import BuildError, build, build_from_pin, pin, split_tasks
from graph.tasks.load import load_tasks
from tools.corpus import build as build_corpus
from tools.corpus import load as load_corpus


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


SKILLS = [{"Skill": skill, "Instruction": f"{skill} question number {i}?"} for skill, n in
          (("Math", 9), ("Poetry", 6), ("Chess", 3)) for i in range(n)]


def test_labelled_groups_split_and_files(tmp_path):
    src = write_rows(tmp_path / "wiz.jsonl", SKILLS)
    manifest = build(src, tmp_path / "out", name="wiz", label="Skill", splits=(1, 0, 1), seed=3, log=lambda m: None)
    assert set(manifest["tasks"]) == {"wiz-math", "wiz-poetry"} and manifest["dropped_groups"] == {"wiz-chess": 3}
    assert sorted(manifest["splits"]["train"] + manifest["splits"]["test"]) == ["wiz-math", "wiz-poetry"]
    assert not set(manifest["splits"]["train"]) & set(manifest["splits"]["test"])
    math_task = yaml.safe_load((tmp_path / "out" / manifest["tasks"]["wiz-math"]["file"]).read_text())
    assert len(math_task["observed"]) == 3 and len(math_task["held_out"]) == 6 and math_task["category"] == "Math"
    assert not set(math_task["observed"]) & {h["instruction"] for h in math_task["held_out"]}
    split = manifest["tasks"]["wiz-math"]["split"]
    loaded = load_tasks(tmp_path / "out", split=split)
    assert any(t["task"] == "wiz-math" and t["category"] == "Math" for t in loaded)
    again = build(src, tmp_path / "again", name="wiz", label="Skill", splits=(1, 0, 1), seed=3, log=lambda m: None)
    assert again["splits"] == manifest["splits"]  # seeded


class ToyEmbedder:
    """Two obvious topics: vectors by whether an instruction mentions cooking."""

    def encode(self, texts):
        return np.array([[1.0, 0.0] if "cook" in t else [0.0, 1.0] for t in texts])


def test_clusters_without_a_label(tmp_path):
    rows = [{"instruction": f"How do I cook dish {i}?"} for i in range(6)] + \
           [{"instruction": f"Explain star number {i}."} for i in range(7)]
    manifest = build(write_rows(tmp_path / "x.jsonl", rows), tmp_path / "out", clusters=2, embedder=ToyEmbedder(),
                     log=lambda m: None)
    sizes = sorted(t["observed"] + t["held_out"] for t in manifest["tasks"].values())
    assert sizes == [6, 7] and manifest["clusters"] == 2


def test_knowledge_questions_need_their_answer_in_a_retrieved_passage(tmp_path):
    corpus_src = write_rows(tmp_path / "passages.jsonl", [
        {"title": "Zorbia", "text": "Zorbia is a country whose capital is Quxton and whose river is the Lenn."},
        {"title": "Velmar", "text": "Velmar is the capital of Quxland, an island nation."}])
    corpus = load_corpus(str(build_corpus(str(corpus_src), name=str(tmp_path / "index"), log=lambda m: None)))
    questions = [{"question": q, "answer": a} for q, a in (
        ("what is the capital of zorbia", ["Quxton"]), ("which river flows through zorbia", ["Lenn"]),
        ("what is the capital of quxland", ["Velmar"]), ("who founded zorbia", ["Queen Ama"]),
        ("what island has velmar as capital", ["Quxland"]), ("how many people live in zorbia", ["3 million"]))]
    manifest = build(write_rows(tmp_path / "nq.jsonl", questions), tmp_path / "out", clusters=1, min_size=4,
                     corpus=corpus, embedder=ToyEmbedder(), log=lambda m: None)
    assert manifest["knowledge_filter"]["answer_in_top_passages"] == 4 and manifest["knowledge_filter"]["kept_fraction"] == 0.6667
    task = load_tasks(tmp_path / "out", split=next(s for s, v in manifest["splits"].items() if v))[0]
    held = {h["instruction"]: h["answers"] for h in task["held_out"]}
    assert "who founded zorbia" not in held and all(held.values()) and task["category"] == "knowledge"


def test_splits_are_disjoint_and_cover_every_task():
    names = [f"t{i}" for i in range(10)]
    s = split_tasks(names, (0.6, 0.2, 0.2), seed=1)
    assert (len(s["train"]), len(s["validation"]), len(s["test"])) == (6, 2, 2)
    assert sorted(s["train"] + s["validation"] + s["test"]) == sorted(names)
    with pytest.raises(BuildError, match="three non-negative fractions"):
        split_tasks(names, (0.5, 0.5), seed=1)


def test_bad_sources_are_clear_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"Skill": "Math", "Instruction": "ok"}\n{"Skill": \n')
    with pytest.raises(BuildError, match="bad.jsonl: line 2: not valid JSON"):
        build(tmp_path / "bad.jsonl", tmp_path / "o", label="Skill")
    src = write_rows(tmp_path / "nolabel.jsonl", [{"Instruction": "a"}])
    with pytest.raises(BuildError, match="has no label field 'Skill'"):
        build(src, tmp_path / "o", label="Skill")
    with pytest.raises(BuildError, match="no group reached 5"):
        build(write_rows(tmp_path / "few.jsonl", SKILLS[-3:]), tmp_path / "o", label="Skill")


def test_the_command_writes_tasks_that_evaluate_can_read(tmp_path):
    from cli import main

    src = write_rows(tmp_path / "wiz.jsonl", SKILLS)
    result = CliRunner().invoke(main, ["tasks", "build", "--source", str(src), "--label", "Skill", "--out", str(tmp_path / "o"),
                                       "--splits", "1,0,1"])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(main, ["tasks", "list", str(tmp_path / "o")])
    assert "wiz-math" in listed.output and "held-out  6" in listed.output


def test_augmentation_adds_new_held_out_items_and_drops_near_copies(tmp_path, fake_llm):
    from graph.prompts import TASK_AUGMENT_PROMPT

    writer = fake_llm("writer")
    replies = iter(["Instruction: Math question number 3?\nInput: <noinput>",  # a near-copy of the pool
                    "Instruction: How many sides does a hexagon have?\nInput: <noinput>"] * 10)
    writer.respond = lambda m: next(replies)
    src = write_rows(tmp_path / "wiz.jsonl", SKILLS[:9])
    manifest = build(src, tmp_path / "out", label="Skill", splits=(1, 0, 0), augment=1, augment_llm=writer,
                     augment_prompt=TASK_AUGMENT_PROMPT, log=lambda m: None)
    stats = manifest["augmentation"]["wiz-math"]
    assert stats["added"] == 1 and stats["dropped"] >= 1
    task = yaml.safe_load((tmp_path / "out" / manifest["tasks"]["wiz-math"]["file"]).read_text())
    assert task["held_out"][-1] == {"instruction": "How many sides does a hexagon have?"}
    assert "Math question number" in writer.history[0][-1]["content"]  # the task's own instructions as examples


def test_a_pin_writes_the_same_task_files_and_holds_no_text(tmp_path):
    rows = [{"instruction": f"How do I cook dish {i}?"} for i in range(6)] + \
           [{"instruction": f"Explain star number {i}.", "answer": [f"star {i}"]} for i in range(7)]
    rows = [{"question": r["instruction"], "answer": r.get("answer", ["a dish"])} for r in rows]
    rows.append(dict(rows[2]))  # a repeated question: the pin names one row
    src = write_rows(tmp_path / "x.jsonl", rows)
    corpus_src = write_rows(tmp_path / "p.jsonl", [{"title": "Dish", "text": "a dish is food"}] +
                            [{"title": f"Star {i}", "text": f"star {i} is a star"} for i in range(7)])
    corpus = load_corpus(str(build_corpus(str(corpus_src), name=str(tmp_path / "index"), log=lambda m: None)))
    built = build(src, tmp_path / "built", clusters=2, min_size=4, splits=(1, 1, 0), corpus=corpus,
                  embedder=ToyEmbedder(), log=lambda m: None)
    data = pin(tmp_path / "built", src)
    text = json.dumps(data)
    assert "cook" not in text and "star 3" not in text.lower()  # row numbers and a digest, not the source's text
    assert {n: t["split"] for n, t in data["tasks"].items()} == {n: i["split"] for n, i in built["tasks"].items()}
    again = build_from_pin(data, src, tmp_path / "again")
    assert again["splits"] == built["splits"] and again["pinned"]
    for info in built["tasks"].values():
        assert (tmp_path / "again" / info["file"]).read_text() == (tmp_path / "built" / info["file"]).read_text()
    labelled = build(write_rows(tmp_path / "wiz.jsonl", SKILLS), tmp_path / "wiz", name="wiz", label="Skill",
                     splits=(1, 0, 1), seed=3, log=lambda m: None)
    wiz = build_from_pin(pin(tmp_path / "wiz", tmp_path / "wiz.jsonl"), tmp_path / "wiz.jsonl", tmp_path / "wiz2")
    assert wiz["splits"] == labelled["splits"]
    assert load_tasks(tmp_path / "wiz2", split="test") == load_tasks(tmp_path / "wiz", split="test")


def test_a_pin_refuses_another_source_file(tmp_path):
    src = write_rows(tmp_path / "wiz.jsonl", SKILLS)
    build(src, tmp_path / "wiz", name="wiz", label="Skill", splits=(1, 0, 1), log=lambda m: None)
    data = pin(tmp_path / "wiz", src)
    changed = write_rows(tmp_path / "other.jsonl", SKILLS[:-1])
    with pytest.raises(BuildError, match="not the file the pin was made from"):
        build_from_pin(data, changed, tmp_path / "x")
    with pytest.raises(BuildError, match="is not a row of"):
        pin(tmp_path / "wiz", write_rows(tmp_path / "few.jsonl", SKILLS[9:]))
    with pytest.raises(BuildError, match="no manifest.json"):
        pin(tmp_path, src)
    manifest = json.loads((tmp_path / "wiz" / "manifest.json").read_text())
    (tmp_path / "wiz" / "manifest.json").write_text(json.dumps({**manifest, "augmentation": {"wiz-math": {"added": 2}}}))
    with pytest.raises(BuildError, match="a pin cannot hold them"):
        pin(tmp_path / "wiz", src)


def test_the_commands_pin_tasks_and_write_them_again(tmp_path):
    from cli import main

    src = write_rows(tmp_path / "wiz.jsonl", SKILLS)
    run = CliRunner().invoke
    assert run(main, ["tasks", "build", "--source", str(src), "--label", "Skill", "--out", str(tmp_path / "o"),
                      "--splits", "1,0,1", "--seed", "4"]).exit_code == 0
    pinned = run(main, ["tasks", "pin", str(tmp_path / "o"), "--source", str(src), "--out", str(tmp_path / "p.json")])
    assert pinned.exit_code == 0, pinned.output
    again = run(main, ["tasks", "build", "--source", str(src), "--pin", str(tmp_path / "p.json"), "--out", str(tmp_path / "a")])
    assert again.exit_code == 0, again.output
    assert load_tasks(tmp_path / "a", split="test") == load_tasks(tmp_path / "o", split="test")
    ignored = run(main, ["tasks", "build", "--source", str(src), "--pin", str(tmp_path / "p.json"), "--seed", "1",
                         "--out", str(tmp_path / "b")])
    assert ignored.exit_code == 1 and "--seed would change nothing" in ignored.output
    other = write_rows(tmp_path / "other.jsonl", SKILLS[1:])
    wrong = run(main, ["tasks", "build", "--source", str(other), "--pin", str(tmp_path / "p.json"), "--out", str(tmp_path / "c")])
    assert wrong.exit_code == 1 and "not the file the pin was made from" in wrong.output
    (tmp_path / "old.json").write_text(json.dumps({"format": 0, "tasks": {}}))
    old = run(main, ["tasks", "build", "--source", str(src), "--pin", str(tmp_path / "old.json")])
    assert old.exit_code == 1 and "not a pin of format" in old.output
    (tmp_path / "bad.json").write_text("{not json")
    bad = run(main, ["tasks", "build", "--source", str(src), "--pin", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1 and "is not a pin" in bad.output
