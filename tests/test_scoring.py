"""Scoring math against hand-computed numbers, and the judges/assessor on a scripted model."""

from __future__ import annotations

import json
import math

import pytest

import scoring
from scoring import assess, ifd, judge
from scoring.judge import Verdict
from scoring.reward import verdicts_from_scores


# -- IFD math ---------------------------------------------------------------------------------------
def test_ifd_from_logprobs_hand_computed():
    # cond mean NLL = (1 + 2) / 2 = 1.5; uncond mean NLL = (2 + 2 + 2) / 3 = 2  ->  e^1.5 / e^2 = e^-0.5
    cond, uncond = [-1.0, -2.0], [-2.0, -2.0, -2.0]
    assert ifd.ifd_from_logprobs(cond, uncond) == pytest.approx(math.exp(-0.5), abs=1e-12)
    assert ifd.perplexity_from_logprobs(cond) == pytest.approx(math.exp(1.5))
    # the same ratio as the two perplexities
    assert ifd.ifd_from_logprobs(cond, uncond) == pytest.approx(
        ifd.perplexity_from_logprobs(cond) / ifd.perplexity_from_logprobs(uncond))
    # the instruction does not help -> 1; it hurts -> above 1
    assert ifd.ifd_from_logprobs([-0.7, -0.3], [-0.5, -0.5]) == pytest.approx(1.0)
    assert ifd.ifd_from_logprobs([-3.0], [-1.0]) == pytest.approx(math.exp(2.0))


def test_ifd_long_responses_do_not_overflow():
    cond, uncond = [-800.0] * 3, [-799.0] * 3  # exp(800) alone overflows a float
    assert ifd.ifd_from_logprobs(cond, uncond) == pytest.approx(math.e)


def test_ifd_of_empty_continuation_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ifd.ifd_from_logprobs([], [-1.0])


def test_dual_ifd_eq5_normalization():
    small, large = [0.9, 0.5, 0.7], [0.5, 0.6, 0.7]  # differences 0.4, -0.1, 0.0
    assert ifd.dual_ifd(small, large) == pytest.approx([1.0, -0.25, 0.0])
    # every difference negative: dividing by max|d| keeps the order (a plain max would flip it)
    assert ifd.dual_ifd([0.1, 0.3], [0.5, 0.4]) == pytest.approx([-1.0, -0.25])
    assert ifd.dual_ifd([0.5, 0.5], [0.5, 0.5]) == [0.0, 0.0]
    with pytest.raises(ValueError):
        ifd.dual_ifd([0.1], [0.1, 0.2])


def test_composite_is_judge_times_dual():
    pi_llm = [1.0, 0.5, 0.0, 1.0]
    pi_dual = [0.8, 1.0, 1.0, -0.5]
    assert ifd.composite(pi_llm, pi_dual) == pytest.approx([0.8, 0.5, 0.0, -0.5])


def test_ifd_scores_uses_rendered_instruction_and_empty_context(fake_llm):
    llm = fake_llm("ifd")
    seen = []

    def lp(context, continuation):
        seen.append((context, continuation))
        return [-1.0, -1.0] if context else [-2.0, -2.0]  # instruction halves the NLL

    llm.logprob_fn = lp
    rows = [{"instruction": "Say hi", "response": "hi there"}, {"instruction": "x", "response": "  "},
            {"instruction": "Add", "input": "2+2", "output": "4"}]
    scores = ifd.ifd_scores(llm, rows)
    assert scores[0] == pytest.approx(math.exp(-1.0)) and scores[2] == pytest.approx(math.exp(-1.0))
    assert scores[1] is None  # empty response: no score, not a made-up one
    assert (llm.render("Say hi"), "hi there") in seen and ("", "hi there") in seen
    assert (llm.render("Add\n\n2+2"), "4") in seen
    assert len(seen) == 4


def test_dual_ifd_scores_with_two_models(fake_llm):
    small, large = fake_llm("small"), fake_llm("large")
    rows = [{"instruction": "a", "response": "r1"}, {"instruction": "b", "response": "r2"}]
    # small: IFD e^0 = 1 for r1, e^-1 for r2; large: e^-1 for both
    small.logprob_fn = lambda c, r: [-1.0] if (not c or r == "r1") else [0.0]
    large.logprob_fn = lambda c, r: [0.0] if c else [-1.0]
    got = ifd.dual_ifd_scores(small, large, rows)
    assert got == pytest.approx([1.0, 0.0])


def test_perplexity_conditional_and_not(fake_llm):
    llm = fake_llm("ppl")
    llm.logprob_fn = lambda c, r: [-1.0] if c else [-3.0]
    rows = [{"instruction": "q", "response": "a"}, {"response": "b"}]
    assert ifd.perplexity(llm, rows) == pytest.approx([math.e, math.exp(3)])  # no instruction -> unconditional
    assert ifd.perplexity(llm, rows, conditional=False) == pytest.approx([math.exp(3)] * 2)


# -- judge ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, winner, reasoning", [
    ("A is more accurate. [[A]]", "A", "A is more accurate."),
    ("Both fine.\n[[C]]", "tie", "Both fine."),
    ('Format is "[[A]]" ... but B is better. [[B]]', "B", 'Format is "[[A]]" ... but B is better.'),
    ("I cannot decide.", None, "I cannot decide."),
    ("", None, ""),
])
def test_parse_verdict(text, winner, reasoning):
    v = judge.parse_verdict(text)
    assert (v.winner, v.reasoning, v.raw) == (winner, reasoning, text)


def _judge_by_content(llm, prefer: str):
    """A judge that always prefers the answer containing ``prefer``, whatever its position."""
    def respond(msgs):
        user = msgs[-1]["content"]
        a_part = user.split("[The Start of Assistant B's Answer]")[0]
        return "reasoning... " + ("[[A]]" if prefer in a_part else "[[B]]")
    llm.respond = respond


def test_pairwise_runs_both_orders_and_agrees(fake_llm):
    llm = fake_llm("judge")
    _judge_by_content(llm, "GOOD")
    v = judge.pairwise(llm, ["q1", "q2"], ["GOOD a", "bad a"], ["bad b", "GOOD b"])
    assert [x.winner for x in v] == ["A", "B"]
    assert [x.orders for x in v] == [("A", "A"), ("B", "B")]
    # both orders were asked, answers swapped in the second, with the MT-Bench system prompt
    assert llm.calls == 4
    first, swapped = llm.history[0][-1]["content"], llm.history[2][-1]["content"]
    assert first.index("GOOD a") < first.index("bad b")
    assert swapped.index("bad b") < swapped.index("GOOD a")
    assert "impartial judge" in llm.history[0][0]["content"]


def test_position_biased_judge_gives_ties(fake_llm):
    llm = fake_llm("judge")
    llm.respond = lambda msgs: "The first one. [[A]]"  # always the first position
    v = judge.pairwise(llm, ["q"], ["x"], ["y"])
    assert v[0].winner == "tie" and v[0].orders == ("A", "B")


def test_no_verdict_in_either_order_is_no_verdict(fake_llm):
    llm = fake_llm("judge")
    # all first-order prompts go out before the swapped ones
    llm.script("A wins [[A]]", "no idea", "tie [[C]]",               # order (A, B) for pairs 1-3
               "I refuse to judge.", "B wins [[A]]", "tie [[C]]")    # order (B, A)
    # pair 1: swapped order unparsable; pair 2: first order unparsable; pair 3: tie in both
    v = judge.pairwise(llm, ["q1", "q2", "q3"], ["a1", "a2", "a3"], ["b1", "b2", "b3"])
    assert [x.winner for x in v] == [None, None, "tie"]
    s = judge.summarize(v)
    assert s == {"n": 3, "win": 0, "tie": 1, "lose": 0, "no_verdict": 2, "win_rate": 0.0, "adjusted_win_rate": 0.5}


def test_summarize_hand_computed():
    vs = [Verdict("", w) for w in ["A", "A", "A", "tie", "B", None]]
    s = judge.summarize(vs)
    # decided = 3 win + 1 tie + 1 lose = 5; adjusted = (3 + 0.5) / 5
    assert s == {"n": 6, "win": 3, "tie": 1, "lose": 1, "no_verdict": 1, "win_rate": 0.6, "adjusted_win_rate": 0.7}
    assert judge.summarize([Verdict("", None)])["win_rate"] is None


def test_reward_verdicts_tie_margin():
    v = verdicts_from_scores([1.0, 0.2, 0.5, -1.0], [0.0, 0.1, 0.5, 1.0], tie_margin=0.15)
    assert [x.winner for x in v] == ["A", "tie", "tie", "B"]
    assert [x.score for x in v] == [1.0, 0.5, 0.5, 0.0]
    assert [x.winner for x in verdicts_from_scores([0.2], [0.1])] == ["A"]
    with pytest.raises(ValueError):
        verdicts_from_scores([0.0], [0.0], tie_margin=-1)


# -- self-assessment --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, q, f", [
    ("Quality: 9\nFollowing: 8", 9, 8),
    ("quality 7/10, instruction following: 10/10", 7, 10),
    ("Quality: <1-10>\nFollowing: <1-10>", None, None),  # the echoed placeholder is no rating
    ("Quality: 12\nFollowing: 3", None, 3),  # out of range
    ("It is good.", None, None),
])
def test_parse_assessment(text, q, f):
    a = assess.parse_assessment(text)
    assert (a.quality, a.following) == (q, f)


def test_self_assess_and_threshold_filter(fake_llm):
    llm = fake_llm("assessor")
    llm.script("Quality: 9\nFollowing: 8", "Quality: 9\nFollowing: 7", "I like it")
    rows = [{"instruction": f"i{k}", "response": f"r{k}"} for k in range(3)]
    found = assess.self_assess(llm, rows)
    assert found[0].score == pytest.approx(7.5 / 9) and found[1].score == pytest.approx(7 / 9)
    assert found[2].score is None and not found[2].parsed
    assert "[Instruction]\ni1" in llm.history[1][-1]["content"] and "r1" in llm.history[1][-1]["content"]
    kept, stats = assess.threshold_filter(rows, found, threshold=8)
    assert kept == rows[:1] and stats == {"kept": 1, "dropped": 2, "unparsable": 1}
    kept, _ = assess.threshold_filter(rows, found, threshold=7)
    assert kept == rows[:2]


def test_perplexity_filter_drops_above_50(fake_llm):
    llm = fake_llm("ppl")
    llm.logprob_fn = lambda c, r: [-math.log(60)] if r == "garbage" else [-math.log(5)]
    rows = [{"instruction": "q", "response": "fine"}, {"instruction": "q", "response": "garbage"}]
    kept, stats = assess.perplexity_filter(llm, rows)
    assert kept == rows[:1] and stats["perplexities"] == pytest.approx([5, 60])


def test_density_filter_samples_each_cluster():
    # 6 near-duplicates around (0,0) and 2 around (10,10): one per cluster keeps both regions
    rows = [{"instruction": f"dup {k}", "response": "x"} for k in range(6)] + \
           [{"instruction": f"far {k}", "response": "y"} for k in range(2)]
    vecs = {f"dup {k}\nx": [0.0 + 0.01 * k, 0.0] for k in range(6)}
    vecs.update({f"far {k}\ny": [10.0, 10.0 + 0.01 * k] for k in range(2)})
    embed = lambda texts: [vecs[t] for t in texts]  # noqa: E731
    kept, stats = assess.density_filter(rows, embed, n_clusters=2, per_cluster=1, seed=3)
    assert sorted(stats["clusters"]) == [2, 6] and stats["kept"] == 2
    assert {r["instruction"].split()[0] for r in kept} == {"dup", "far"}
    again, _ = assess.density_filter(rows, embed, n_clusters=2, per_cluster=1, seed=3)
    assert again == kept  # seeded


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

    from scoring.cli import score

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

    from scoring.cli import score

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


def test_token_budget_groups_keep_results_in_place(fake_llm):
    llm = fake_llm("budget")
    calls = []
    orig = llm.logprobs

    def spy(contexts, continuations, *, batch_size=8):
        calls.append([len(c) + len(r) for c, r in zip(contexts, continuations)])
        return orig(contexts, continuations, batch_size=batch_size)

    llm.logprob_fn = lambda c, r: [-float(len(r))]  # identifies the continuation
    llm.logprobs = spy
    conts = ["a" * n for n in (40, 4, 80, 8, 36, 12)]  # fake count_tokens: 4 characters a token
    got = ifd.batched_logprobs(llm, [""] * 6, conts, max_batch_tokens=24)
    assert got == [[-40.0], [-4.0], [-80.0], [-8.0], [-36.0], [-12.0]]  # back in input order
    # longest first; each group's rows x widest row (tokens + 1) stays within 24
    assert calls == [[80], [40, 36], [12, 8, 4]]
    calls.clear()
    assert ifd.batched_logprobs(llm, [""] * 6, conts) == got and len(calls) == 1  # "auto": fakes are not on CPU
