"""Scoring on real models: IFD on SmolLM2, a tiny reward model built here, and the score CLI."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

import llms
from cli import score
from scoring import ifd
from scoring.reward import RewardModel, reward_pairwise
from scoring.verdict import summarize

pytestmark = pytest.mark.real

PAIRS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Name three primary colors.", "The three primary colors are red, blue and yellow."),
    ("Translate 'good morning' into Spanish.", "'Good morning' in Spanish is 'buenos días'."),
]


def _random_words(text: str, seed: int) -> str:
    words = "lamp orbit velvet quarry nine glacier tuba honest pepper sky walrus ledger".split()
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in text.split())


def test_ifd_fitting_response_beats_random_words(smollm):
    rows = [{"instruction": q, "response": a} for q, a in PAIRS]
    noise = [{"instruction": q, "response": _random_words(a, i)} for i, (q, a) in enumerate(PAIRS)]
    fit, rnd = ifd.ifd_scores(smollm, rows), ifd.ifd_scores(smollm, noise)
    # the instruction makes a fitting answer much easier (IFD well below 1: 0.02-0.15 measured);
    # random words are barely helped by it (0.24-2.0 measured), so each fitting pair scores lower
    for f, r in zip(fit, rnd):
        assert f < 0.5 * r
    assert max(fit) < 0.3 and sum(rnd) / len(rnd) > 0.5
    ppl = ifd.perplexity(smollm, rows + noise)
    assert max(ppl[:3]) < min(ppl[3:])


def test_batched_and_single_logprobs_agree(smollm):
    contexts = [smollm.render(q) for q, _ in PAIRS] + ["", ""]
    conts = [a for _, a in PAIRS] + [PAIRS[0][1], "A much longer continuation, with several more tokens to pad against."]
    batched = smollm.logprobs(contexts, conts, batch_size=len(conts))
    single = [smollm.logprobs([c], [r], batch_size=1)[0] for c, r in zip(contexts, conts)]
    for b, s in zip(batched, single):
        assert len(b) == len(s) > 0
        assert max(abs(x - y) for x, y in zip(b, s)) < 1e-4
    # and so do the IFD scores at every default batch size
    rows = [{"instruction": q, "response": a} for q, a in PAIRS]
    assert ifd.ifd_scores(smollm, rows, batch_size=1) == pytest.approx(ifd.ifd_scores(smollm, rows), abs=1e-4)


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    """A tiny random Llama sequence classifier with the SmolLM2 tokenizer, saved like any hub RM."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(llms.prepare("smollm2-135m-instruct"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, num_labels=1,
                      pad_token_id=tok.pad_token_id or tok.eos_token_id)
    path = tmp_path_factory.mktemp("tiny-rm")
    LlamaForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_reward_model_judge(tiny_rm):
    rm = RewardModel.load(str(tiny_rm))
    qs = [q for q, _ in PAIRS]
    a = [r for _, r in PAIRS]
    b = ["No.", "I like turtles and a long digression about nothing at all.", "?"]
    sa, sb = rm.score(qs, a, batch_size=1), rm.score(qs, b, batch_size=1)
    assert len(set(sa + sb)) == 6  # a real model: distinct rewards for distinct texts
    assert rm.score(qs + qs, a + b, batch_size=6) == pytest.approx(sa + sb, abs=1e-4)  # padding-safe
    v = reward_pairwise(str(tiny_rm), qs, a, b)  # loads by path
    assert [x.winner for x in v] == ["A" if x > y else "B" for x, y in zip(sa, sb)]
    swapped = reward_pairwise(rm, qs, b, a)
    assert [x.winner for x in swapped] == [{"A": "B", "B": "A"}[x.winner] for x in v]
    margin = max(abs(x - y) for x, y in zip(sa, sb)) + 1e-6
    assert summarize(reward_pairwise(rm, qs, a, b, tie_margin=margin))["tie"] == 3


def test_reward_model_missing_path_says_what_to_do(tmp_path):
    with pytest.raises(llms.ModelError, match="sequence-classification"):
        RewardModel.load(str(tmp_path / "nope"))


# -- CLI ---------------------------------------------------------------------------------------------
def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cli_ifd_writes_scores(smollm, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", [{"instruction": q, "response": a, "id": i} for i, (q, a) in enumerate(PAIRS[:2])])
    res = CliRunner().invoke(score, ["ifd", "--data", data, "--out", str(tmp_path / "out.jsonl")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1]
    expected = ifd.ifd_scores(smollm, rows)
    assert [r["ifd"] for r in rows] == pytest.approx(expected, abs=1e-4)
    assert all(r["ppl_conditional"] < r["ppl_unconditional"] for r in rows)


def test_cli_judge_with_reward_model(tiny_rm, tmp_path):
    data = _jsonl(tmp_path / "pairs.jsonl", [{"instruction": q, "response_a": a, "response_b": "No."} for q, a in PAIRS])
    res = CliRunner().invoke(score, ["judge", "--data", data, "--reward-model", str(tiny_rm), "--tie-margin", "1000"])
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{") and '"verdict"' in line]
    assert [r["verdict"] for r in out] == ["tie"] * 3


JUDGED = [  # (instruction, right answer, nonsense answer)
    ("What is the capital of France?", "The capital of France is Paris.", "Bananas are yellow and I like trains."),
    ("How many legs does a spider have?", "A spider has eight legs.", "The weather is nice today in Berlin."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet.", "Romeo and Juliet is a fruit salad recipe."),
    ("What is 2 + 3?", "2 + 3 = 5.", "Premise: the cat sat on the mat."),
    ("Which gas do plants absorb from the air?", "Plants absorb carbon dioxide.", "Plants absorb the moon."),
]


def test_the_log_prob_judge_orders_right_above_nonsense_on_smollm2(smollm):
    from graph.context import Context
    from scoring.assess import self_assess
    from scoring.judge import pairwise

    ctx = Context()
    quality = (ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER"))
    binary = {"quality": quality, "following": (ctx.prompt("JUDGE_FOLLOWING_QUESTION"), ctx.prompt("JUDGE_FOLLOWING_ANSWER"))}
    rows = [{"instruction": q, "response": r} for q, good, bad in JUDGED for r in (good, bad)]
    got = self_assess(smollm, rows, prompt=ctx.prompt("SELF_ASSESS_PROMPT"), binary=binary)
    assert all(a.reading == "logprobs" and a.parsed for a in got)  # never unparsable
    assert [got[2 * k].quality > got[2 * k + 1].quality for k in range(len(JUDGED))] == [True] * len(JUDGED)
    verdicts = pairwise(smollm, [q for q, _, _ in JUDGED], [g for _, g, _ in JUDGED], [b for _, _, b in JUDGED],
                        system="", template="", reading="auto", quality=quality, tie_margin=0.0)
    assert [v.winner for v in verdicts] == ["A"] * len(JUDGED)
