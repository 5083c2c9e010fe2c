"""IFD, dual IFD, composite and perplexity (scoring/ifd.py) against hand-computed numbers, on a scripted model."""

from __future__ import annotations

import math

import pytest

from scoring import ifd


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


def test_dual_ifd_is_the_papers_equation_on_a_hand_made_table():
    # eq. 5: (IFD_small_i - IFD_large_i) / max_j (IFD_small_j - IFD_large_j), by hand:
    #   small  large  difference  / max difference 0.2
    #   0.9    0.7     0.2         1.0
    #   0.5    0.9    -0.4        -2.0   (a negative difference larger in size than the max)
    #   0.6    0.5     0.1         0.5
    #   0.7    0.7     0.0         0.0
    assert ifd.dual_ifd([0.9, 0.5, 0.6, 0.7], [0.7, 0.9, 0.5, 0.7]) == pytest.approx([1.0, -2.0, 0.5, 0.0])
    # dividing by the largest absolute difference instead (0.4) would give 0.5, -1.0, 0.25, 0.0
    assert ifd.dual_ifd([0.9, 0.5], [0.7, 0.9]) != pytest.approx([0.5, -1.0])


def test_dual_ifd_is_none_where_the_equation_is_undefined_or_flips_the_ranking():
    assert ifd.dual_ifd([0.5, 0.5], [0.5, 0.5]) == [None, None]  # max difference 0: division by zero
    # every difference negative (-0.4, -0.1): eq. 5 would give 4.0 and 1.0, ranking the row that is
    # easiest for the small model first; no score rather than an inverted one
    assert ifd.dual_ifd([0.1, 0.3], [0.5, 0.4]) == [None, None]
    assert ifd.dual_ifd([], []) == []
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
