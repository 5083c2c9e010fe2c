"""records.ifeval.read_ifeval: IFEval's input_data.jsonl as rows with checks; on the real file the
checks are ones lm-eval's registry runs (scoring.verify.validate_checks)."""

from __future__ import annotations

import json
import re

import pytest

from records import RecordError
from records.ifeval import read_ifeval


def write(tmp_path, *lines) -> str:
    path = tmp_path / "input_data.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


ROW = {"key": 7, "prompt": "Describe the sea without commas, in at least 20 words.",
       "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
       "kwargs": [{}, {"relation": "at least", "num_words": 20}]}


def test_read_ifeval_rows_and_checks(tmp_path):
    hf_style = {"key": 8, "prompt": "Answer in lowercase.", "instruction_id_list": ["change_case:english_lowercase"],
                "kwargs": [{"num_words": None, "relation": None}]}  # the HF dataset fills unused kwargs with None
    no_kwargs = {"key": 9, "prompt": "No commas.", "instruction_id_list": ["punctuation:no_comma"]}
    rows = read_ifeval(write(tmp_path, ROW, "", hf_style, no_kwargs))
    assert rows == [
        {"instruction": ROW["prompt"], "key": 7,
         "checks": [{"id": "punctuation:no_comma", "kwargs": {}},
                    {"id": "length_constraints:number_words", "kwargs": {"relation": "at least", "num_words": 20}}]},
        {"instruction": "Answer in lowercase.", "key": 8, "checks": [{"id": "change_case:english_lowercase", "kwargs": {}}]},
        {"instruction": "No commas.", "key": 9, "checks": [{"id": "punctuation:no_comma", "kwargs": {}}]},
    ]


@pytest.mark.parametrize("bad, says", [
    ('{"key": 8, "prompt": "x", ', "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ({**ROW, "key": 8, "prompt": " "}, "no prompt"),
    ({**ROW, "key": 8, "instruction_id_list": []}, "instruction_id_list must be a non-empty list"),
    ({**ROW, "key": 8, "instruction_id_list": "punctuation:no_comma"}, "instruction_id_list must be a non-empty list"),
    ({**ROW, "key": 8, "kwargs": [{}]}, "2 instruction ids but 1 kwargs"),
    ({**ROW, "key": 8, "kwargs": [{}, "num_words=20"]}, r"kwargs\[1\] \(for length_constraints:number_words\) must be an object"),
    ({**ROW, "key": 8, "kwargs": {"num_words": 20}}, "2 instruction ids but kwargs of type dict"),
    ({**ROW, "key": [8]}, "key must be a number or a string"),
    (ROW, "key 7 already used on line 1"),
])
def test_a_malformed_line_names_path_and_line(tmp_path, bad, says):
    path = write(tmp_path, ROW, bad)
    with pytest.raises(RecordError, match=rf"^{re.escape(path)}: line 2: .*{says}"):
        read_ifeval(path)


def test_an_empty_or_missing_file_is_a_record_error(tmp_path):
    with pytest.raises(RecordError, match="holds no rows"):
        read_ifeval(write(tmp_path, ""))
    with pytest.raises(RecordError, match="no such file"):
        read_ifeval(tmp_path / "absent.jsonl")


def test_the_real_ifeval_prompts_all_carry_checks_lm_eval_runs(shared_data):
    from scoring.verify import describe_checks, validate_checks

    path = shared_data / "ifeval" / "input_data.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    rows = read_ifeval(path)
    assert len(rows) == 541
    assert len({r["key"] for r in rows}) == 541
    assert rows[0]["key"] == 1000 and rows[0]["instruction"].startswith("Write a 300+ word summary")
    for row in rows:
        assert row["instruction"].strip() and row["checks"]
        assert validate_checks(row["checks"], where=f"{path}, key {row['key']}") == row["checks"]
        # every check is described in lm-eval's words, never by its bare id
        assert all(text != c["id"] for text, c in zip(describe_checks(row["checks"]), row["checks"]))
    ids = {c["id"] for r in rows for c in r["checks"]}
    assert len(ids) == 25  # every instruction in the registry is used
