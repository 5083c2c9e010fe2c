"""records/: the one reader of data files, with file-and-line errors, and the pair accessors."""

from __future__ import annotations

import pytest

from records import RecordError, instruction_of, read_document, read_jsonl, read_records, response_of, write_jsonl


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n')
    with pytest.raises(RecordError, match=r"rows.jsonl: line 3: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(RecordError, match="line 2: expected a JSON object, got list"):
        read_jsonl(path)
    assert read_jsonl(path, objects=False) == [{"a": 1}, [1, 2]]


def test_non_utf8_yaml_and_missing_files(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(RecordError, match=r"x.jsonl: line 2: not UTF-8 text \(byte 0xe9\)"):
        read_jsonl(path)
    bad = tmp_path / "x.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(RecordError, match=r"x.yaml: line \d: not valid YAML"):
        read_document(bad)
    with pytest.raises(RecordError, match="no such file"):
        read_records(tmp_path / "missing.json")


def test_records_from_json_lists_and_mappings(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"k1": {"text": "a"}, "k2": {"text": "b"}}')
    assert read_records(path) == [{"text": "a"}, {"text": "b"}]
    path.write_text("[]")
    with pytest.raises(RecordError, match="holds no rows"):
        read_records(path)
    assert read_records(path, allow_empty=True) == []


def test_write_is_whole_or_nothing(tmp_path):
    path = write_jsonl(tmp_path / "sub" / "out.jsonl", [{"a": 1}, {"b": "é"}])
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}] and not (tmp_path / "sub" / "out.jsonl.partial").exists()


def test_pairs_from_the_usual_shapes():
    assert instruction_of({"instruction": "Sum these.", "input": "1, 2", "output": "3"}) == "Sum these.\n\n1, 2"
    assert instruction_of({"question": "Why?"}) == "Why?" and response_of({"output": "Because."}) == "Because."
    with pytest.raises(KeyError, match="no 'response' \\(or 'output'\\) field"):
        response_of({"instruction": "x"})
