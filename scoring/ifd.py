"""Instruction-Following Difficulty (IFD): pure math on token log-probs, plus a thin model wrapper.

IFD (Cherry LLM; Star-Agents eq. 4) of a pair (Q, A) under a model theta:

    IFD(Q, A) = ppl(A | Q) / ppl(A) = exp(mean_t -log p(a_t | Q, a_<t)) / exp(mean_t -log p(a_t | a_<t))

Near 1: the instruction barely helps the model produce the answer (hard, or unrelated, pair);
well below 1: the instruction makes the answer easy. Cherry LLM drops pairs with IFD >= 1.

Dual-model score (Star-Agents eq. 5), small = the policy, large = a stronger model:

    pi_dual_i = (IFD_small_i - IFD_large_i) / max_j (IFD_small_j - IFD_large_j)

High when the pair is hard for the small model but easy for the large one: data the small model
can still learn from. The denominator is the paper's, exactly: the largest *signed* difference
over the batch, max_j (IFD_small_j - IFD_large_j), not the largest absolute one. So scores are
at most 1 (the row with the largest difference scores exactly 1) and unbounded below: with
differences 0.2 and -0.4 the second row scores -2. The equation is undefined when that maximum is
0 (division by zero: e.g. every difference is 0, as when "large" is the small model itself), and
when it is negative (every row is easier for the small model) it is defined but meaningless:
dividing by a negative number flips every sign and the ranking, so the row that is easiest for
the small model relative to the large one would score highest. In both cases ``dual_ifd``
returns None for every row rather than a number the paper never meant.

Composite (Star-Agents): pi = pi_llm x pi_dual, with pi_llm the judge's score of the pair
(0 / 0.5 / 1 for lose / tie / win, or any quality score in [0, 1]).
"""

from __future__ import annotations

import math
from typing import Sequence

from records import instruction_of, response_of

# Batching of ifd_scores/perplexity, chosen by bench/scoring.py on 2 shared CPU cores: sequences
# sorted by length and grouped so that rows x longest-row tokens stays under MAX_BATCH_TOKENS.
# On CPU a bigger batch buys no matmul efficiency for a 135M model, so padding is pure waste.
# CPU seconds per pair at 1 torch thread: per-pair 1.4, 1024-token budget 1.5, length-bucketed
# batches of 8 2.1 (with 2 threads on a busy machine every strategy cost 2-4x more CPU, most of
# it thread synchronisation, and the ranking was noise-bound). The budget keeps per-pair's low
# padding with fewer model calls. On a GPU (or an endpoint) plain batches go to llm.logprobs.
DEFAULT_BATCH_SIZE = 16
MAX_BATCH_TOKENS = 1024
_MAX_GROUP = 64


# -- pure math ------------------------------------------------------------------------------------
def mean_nll(logprobs: Sequence[float]) -> float:
    """Mean negative log-likelihood per token; the log of perplexity."""
    if len(logprobs) == 0:
        raise ValueError("no tokens: perplexity of an empty continuation is undefined")
    return -sum(logprobs) / len(logprobs)


def perplexity_from_logprobs(logprobs: Sequence[float]) -> float:
    return math.exp(mean_nll(logprobs))


def ifd_from_logprobs(cond_lp: Sequence[float], uncond_lp: Sequence[float]) -> float:
    """ppl(response | instruction) / ppl(response), from the response's per-token log-probs.

    Computed in log space (exp of the difference of mean NLLs) so long responses do not overflow.
    """
    return math.exp(mean_nll(cond_lp) - mean_nll(uncond_lp))


def dual_ifd(ifd_small: Sequence[float], ifd_large: Sequence[float]) -> list[float | None]:
    """Star-Agents eq. 5 over a batch: (IFD_small_i - IFD_large_i) / max_j (IFD_small_j - IFD_large_j).

    Undefined when the largest difference is 0 (division by zero) and sign-flipped when it is
    negative (see the module docstring): then every row gets None."""
    if len(ifd_small) != len(ifd_large):
        raise ValueError(f"ifd_small has {len(ifd_small)} scores but ifd_large has {len(ifd_large)}")
    diffs = [s - l for s, l in zip(ifd_small, ifd_large)]
    scale = max(diffs, default=0.0)
    if scale <= 0.0:
        return [None for _ in diffs]
    return [d / scale for d in diffs]


def composite(pi_llm: Sequence[float], pi_dual: Sequence[float]) -> list[float]:
    """pi = pi_llm x pi_dual (Star-Agents): quality from the judge times difficulty from the IFDs."""
    if len(pi_llm) != len(pi_dual):
        raise ValueError(f"pi_llm has {len(pi_llm)} scores but pi_dual has {len(pi_dual)}")
    return [q * d for q, d in zip(pi_llm, pi_dual)]


# -- model wrapper --------------------------------------------------------------------------------
def batched_logprobs(llm, contexts: list[str], continuations: list[str], *, batch_size: int = DEFAULT_BATCH_SIZE,
                     max_batch_tokens: int | None | str = "auto") -> list[list[float]]:
    """``llm.logprobs`` over token-budget groups (see MAX_BATCH_TOKENS); same results, less padding.

    ``max_batch_tokens="auto"``: the budget for local models on CPU, plain ``batch_size`` batches
    elsewhere (GPU, vLLM, endpoints); None: always plain batches.
    """
    if max_batch_tokens == "auto":
        on_cpu = llm.info.get("backend") == "local" and llm.info.get("device") == "cpu"
        max_batch_tokens = MAX_BATCH_TOKENS if on_cpu else None
    if not max_batch_tokens or len(contexts) <= 1:
        return llm.logprobs(contexts, continuations, batch_size=batch_size)
    # tokens of each sequence; an empty context is the model's one start token
    sizes = [(llm.count_tokens(c) if c else 1) + llm.count_tokens(r) for c, r in zip(contexts, continuations)]
    order = sorted(range(len(contexts)), key=lambda i: -sizes[i])
    groups: list[list[int]] = [[]]
    for i in order:  # longest first: a group's first row is its widest
        g = groups[-1]
        if g and (sizes[g[0]] * (len(g) + 1) > max_batch_tokens or len(g) >= _MAX_GROUP):
            groups.append(g := [])
        g.append(i)
    out: list[list[float]] = [[] for _ in contexts]
    for g in groups:
        got = llm.logprobs([contexts[i] for i in g], [continuations[i] for i in g], batch_size=len(g))
        for i, lp in zip(g, got):
            out[i] = lp
    return out


def ifd_details(llm, rows: Sequence[dict], *, batch_size: int = DEFAULT_BATCH_SIZE,
                max_batch_tokens: int | None | str = "auto") -> list[dict | None]:
    """For each row: {"ifd", "ppl_conditional", "ppl_unconditional"}; None where the response is empty.

    The conditional context is the chat-rendered instruction (``llm.render``), exactly what the
    policy sees when it answers; the unconditional context is "" (the model's start token). Both
    sequences of every pair are batched together (``batched_logprobs``), so the short
    unconditional ones share batches.
    """
    pairs = [(instruction_of(r), response_of(r)) for r in rows]
    live = [i for i, (_, resp) in enumerate(pairs) if resp.strip()]
    contexts = [llm.render(pairs[i][0]) for i in live] + ["" for _ in live]
    continuations = [pairs[i][1] for i in live] * 2
    lps = batched_logprobs(llm, contexts, continuations, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
    out: list[dict | None] = [None] * len(rows)
    n = len(live)
    for k, i in enumerate(live):
        cond, uncond = lps[k], lps[n + k]
        if not cond or not uncond:
            continue
        out[i] = {
            "ifd": ifd_from_logprobs(cond, uncond),
            "ppl_conditional": perplexity_from_logprobs(cond),
            "ppl_unconditional": perplexity_from_logprobs(uncond),
        }
    return out


def ifd_scores(llm, rows: Sequence[dict], *, batch_size: int = DEFAULT_BATCH_SIZE,
               max_batch_tokens: int | None | str = "auto") -> list[float | None]:
    """IFD of each (instruction, response) row under ``llm``; None where the response is empty."""
    details = ifd_details(llm, rows, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
    return [d["ifd"] if d else None for d in details]


def dual_ifd_scores(small, large, rows: Sequence[dict], *, batch_size: int = DEFAULT_BATCH_SIZE) -> list[float | None]:
    """Eq. 5 over ``rows`` with the policy as ``small`` and a stronger model as ``large``.

    Rows without a score under either model get None and are left out of the normalization.
    """
    s = ifd_scores(small, rows, batch_size=batch_size)
    l = ifd_scores(large, rows, batch_size=batch_size)
    both = [i for i in range(len(rows)) if s[i] is not None and l[i] is not None]
    scores = dual_ifd([s[i] for i in both], [l[i] for i in both])
    out: list[float | None] = [None] * len(rows)
    for i, v in zip(both, scores):
        out[i] = v
    return out


def perplexity(llm, rows: Sequence[dict], *, conditional: bool = True,
               batch_size: int = DEFAULT_BATCH_SIZE) -> list[float | None]:
    """Perplexity of each row's response: given its chat-rendered instruction (default, what the
    I-SHEEP filter needs: is this answer fluent *as an answer*), or alone (``conditional=False``,
    or rows without an instruction). None where the response is empty."""
    contexts, continuations, live = [], [], []
    for i, r in enumerate(rows):
        resp = response_of(r)
        if not resp.strip():
            continue
        has_instruction = r.get("instruction") is not None or r.get("question") is not None
        contexts.append(llm.render(instruction_of(r)) if conditional and has_instruction else "")
        continuations.append(resp)
        live.append(i)
    lps = batched_logprobs(llm, contexts, continuations, batch_size=batch_size)
    out: list[float | None] = [None] * len(rows)
    for i, lp in zip(live, lps):
        out[i] = perplexity_from_logprobs(lp) if lp else None
    return out
