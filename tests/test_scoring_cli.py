"""The scorer registry and the `score` commands."""

from __future__ import annotations

import json

import pytest

import scoring
from scoring import ifd, judge
from tests.test_scoring_judge import _judge_by_content


# -- registry -----------------------------------------------------------------------------------
def test_registry_names():
    assert scoring.get("ifd") is ifd.ifd_scores
    assert scoring.get("pairwise") is judge.pairwise
    assert set(scoring.SCORERS) == {"ifd", "dual_ifd", "perplexity", "pairwise", "reward", "verify", "assess"}
    for name in scoring.SCORERS:
        assert callable(scoring.get(name))
    with pytest.raises(KeyError, match="choose one of"):
        scoring.get("bleu")


# -- CLI ----------------------------------------------------------------------------------------
def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_malformed_line_names_line_number(tmp_path):
    from click.testing import CliRunner

    from cli import score

    data = _write(tmp_path / "bad.jsonl", ['{"instruction": "q", "response": "a"}', '{"instruction": oops}'])
    res = CliRunner().invoke(score, ["verify", "--data", data])
    assert res.exit_code != 0 and "line 2: not valid JSON" in res.output
    data = _write(tmp_path / "missing.jsonl", ['{"instruction": "q", "response": "a"}', '', '{"instruction": "q"}'])
    res = CliRunner().invoke(score, ["ifd", "--data", data, "--model", "fake:x"])
    assert res.exit_code != 0 and "line 3: missing field(s) response/output" in res.output
    data = _write(tmp_path / "judge.jsonl", ['{"instruction": "q", "response_a": "a"}'])
    res = CliRunner().invoke(score, ["judge", "--data", data, "--model", "fake:x"])
    assert res.exit_code != 0 and "line 1: missing field(s) response_b" in res.output


def test_cli_verify_assess_judge(tmp_path, fake_llm):
    from click.testing import CliRunner

    from cli import score

    rows = [{"instruction": "2+2?", "answer": "#### 4", "response": "It is 4."},
            {"question": "capital of France?", "answers": ["Paris"], "response": "London"},
            {"instruction": "Write a poem.", "response": "roses"}]
    data = _write(tmp_path / "v.jsonl", [json.dumps(r) for r in rows])
    res = CliRunner().invoke(score, ["verify", "--data", data, "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["verified"] for r in out] == [True, False, None]
    assert out[0]["answer"] == "#### 4"  # the rows come back whole

    fake_llm("rater").script("Quality: 9\nFollowing: 9", "Quality: 3\nFollowing: 9", "??")
    res = CliRunner().invoke(score, ["assess", "--data", data, "--model", "fake:rater"])
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [(r["quality"], r["following"], r["keep"]) for r in out] == [(9, 9, True), (3, 9, False), (None, None, False)]
    assert "kept 1/3" in res.stderr and "unparsable 1" in res.stderr

    pairs = _write(tmp_path / "p.jsonl", [json.dumps({"instruction": "q", "response_a": "GOOD", "response_b": "bad"})])
    _judge_by_content(fake_llm("judge"), "GOOD")
    res = CliRunner().invoke(score, ["judge", "--data", pairs, "--model", "fake:judge"])
    assert res.exit_code == 0, res.output
    row = json.loads([x for x in res.stdout.splitlines() if x.startswith("{")][0])
    assert row["verdict"] == "A" and row["verdict_orders"] == ["A", "A"]
    assert '"win": 1' in res.stderr
