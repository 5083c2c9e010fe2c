"""One seed through Star-Agents: the pairs write candidates, the candidates are scored, the best is kept.

``run_seed(ctx, index, seed_row, probabilities, agents)`` returns the seed's record: the memory
bank's neighbours and the pairs sampled from them and from p_jk, every candidate (pair, where the
pair came from, instruction, response, or why it is unparsable; IFD on the target and the large
model, dual IFD, the judge's verdict against the base pair's sample, the score), the kept one and
a uniformly random one (the evaluation's "random candidates" baseline).

Scoring (Star-Agents): score = judge x dual IFD, with the judge's 1 / 0.5 / 0 for a win / tie /
loss of the candidate against the first base pair's sample (which scores 0.5 against itself) and
eq. 5 normalised over the seed's candidates. The judge reads both responses against the
candidate's instruction: does the new pair answer its own instruction better than the base sample
would? Without ``star_large_model``, or where eq. 5 is undefined for a seed (its largest IFD
difference <= 0), the score is the judge's verdict alone and ``score_kind`` says so. The best
score is kept; a tie goes to the earlier candidate, so the base sample stays unless beaten.

Checks: a seed row may carry ``checks`` (IFEval objects, as in a task file). Then the verifier
decides before the judge: a rewritten instruction gets the checks stated after it in IFEval's own
words (``scoring.verify.describe_checks``, unless it already says them); a sampling response agent
answers ``verify_samples`` times and its first answer that passes every check is the candidate's;
a candidate with no passing answer (the seed's own response included) is ``failed checks``, with
the failing checks, and is neither scored nor kept; where the first base pair's failed, the first
candidate that passed is the judge's reference.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

import llms
from graph.agents import Agent, sample_pairs, split_pair
from graph.context import Context
from graph.nodes import load_model
from records import instruction_of, response_of

MAX_INSTRUCTION_CHARS = 1500
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:rewritten|new)?\s*instruction\s*(?:\*\*)?\s*:\s*", re.IGNORECASE)
_ANSWER_START = re.compile(r"\n\s*\n|\n\s*(?:\*\*)?(?:response|answer|output)\s*(?:\*\*)?\s*:", re.IGNORECASE)


def parse_rewrite(text: str, prefix: str = "") -> str | None:
    """The rewritten instruction in an instruction agent's reply: after the reply prefix or an
    ``Instruction:`` label, up to a blank line or an answer marker; None when nothing is left or it
    is too long to be an instruction."""
    t = (text or "").strip()
    if prefix and t.lower().startswith(prefix.strip().lower()):
        t = t[len(prefix.strip()):]
    t = _LABEL.sub("", t.strip())
    t = _ANSWER_START.split(t, maxsplit=1)[0].strip().strip("*").strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t if t and len(t) <= MAX_INSTRUCTION_CHARS else None


def neighbour_pairs(ctx: Context, instruction: str) -> list[dict]:
    """The memory bank's ``star_n`` rows nearest to ``instruction`` that carry the pair that wrote them."""
    from memory import MemoryBank

    if ctx.star_l == 0:
        return []
    hits = MemoryBank(ctx.memory_path, ctx.embedder).search(instruction, k=ctx.star_n)
    return [{"instruction": h["instruction"], "pair": h["pair"], "similarity": h["score"]} for h in hits if h.get("pair")]


def _spec(ctx: Context, agent: Agent) -> str:
    return agent.model or ctx.policy


def _messages(ctx: Context, agent: Agent, user: str) -> list[dict]:
    return [{"role": "system", "content": ctx.prompt(agent.prompt)}, {"role": "user", "content": user}]


def verify_candidate(c: dict, checks: list[dict], answers: list[str], edit: bool = False) -> None:
    """The candidate's response: the first of ``answers`` that passes every check (with ``edit``, as
    written or edited toward the checks: ``scoring.edit``), else status ``failed checks`` with the
    failing checks counted over the answers."""
    from scoring.rejection import Sampled

    verdicts = Sampled(checks, answers, prompt=c["instruction"], edit=edit)
    if verdicts.passing:
        first = verdicts.passing[0]
        c.update(response=verdicts.answers[first].strip(), checks_passed=True)
        if first in verdicts.edited:
            c["edited"] = verdicts.edited[first]
    else:
        c.update(status="failed checks", reason=verdicts.why("answer", "the seed's checks"))


def write_candidates(ctx: Context, index: int, seed: dict, pairs: list[tuple[str, str]], agents: dict) -> list[dict]:
    """Each pair's candidate: its instruction agent rewrites the seed, its response agent answers
    (with the seed's checks: see the module docstring)."""
    from scoring.verify import with_checks
    from tools.demonstrations import generate

    checks = seed.get("checks") or []
    prefix = ctx.prompt("STAR_REWRITE_REPLY_PREFIX")
    cands = []
    for pair, source in pairs:
        ia, ra = (agents[n] for n in split_pair(pair))
        c = {"pair": pair, "source": source, "status": "ok", "instruction": seed["instruction"], "response": None,
             "models": {"instruction": None if ia.kind == "seed" else _spec(ctx, ia),
                        "response": None if ra.kind == "seed" else _spec(ctx, ra)}}
        if ia.kind == "model":
            params = llms.SamplingParams(max_new_tokens=ctx.star_rewrite_tokens, temperature=ia.temperature,
                                         top_p=ia.top_p, seed=ctx.seed + index)
            user = ctx.prompt("STAR_REWRITE").format(instruction=seed["instruction"])
            raw = generate(load_model(ctx, _spec(ctx, ia)), _messages(ctx, ia, user), params, prefix, ctx.batch_size)[0].text
            c["instruction"] = parse_rewrite(raw, prefix)
            if c["instruction"] is None:
                c.update(status="unparsable", reason="no instruction in the rewrite", raw=raw[:500])
            elif checks:
                c["instruction"] = with_checks(c["instruction"], checks)
        if ra.kind == "seed":
            c["response"] = seed["response"]
            if checks and c["status"] == "ok":
                verify_candidate(c, checks, [seed["response"]])
        cands.append(c)
    # responses, batched per (model, sampling): agents that share a model differ by system prompt
    groups = defaultdict(list)
    for c in cands:
        ra = agents[split_pair(c["pair"])[1]]
        if c["status"] == "ok" and ra.kind == "model":
            groups[(_spec(ctx, ra), ra.temperature, ra.top_p)].append((c, ra))
    for (spec, temperature, top_p), members in groups.items():
        n = ctx.verify_samples if checks and temperature > 0 else 1  # greedy answers would all be the same
        params = llms.SamplingParams(max_new_tokens=ctx.checks_max_new_tokens if checks else ctx.star_response_tokens,
                                     temperature=temperature, top_p=top_p, seed=ctx.seed + index, n=n)
        gens = load_model(ctx, spec).generate([_messages(ctx, ra, c["instruction"]) for c, ra in members], params,
                                              batch_size=ctx.batch_size)
        for (c, _), g in zip(members, gens):
            if checks:
                verify_candidate(c, checks, [x.text for x in g], edit=ctx.check_edits)
                continue
            c["response"] = g[0].text.strip()
            if not c["response"]:
                c.update(status="unparsable", reason="empty response")
    return cands


def score_candidates(ctx: Context, cands: list[dict]) -> str:
    """Fill ifd_small, ifd_large, dual_ifd, judge, verdict and score of the parsable candidates; the score's kind."""
    from scoring.ifd import dual_ifd, ifd_scores
    from scoring.judge import pairwise

    live = [c for c in cands if c["status"] == "ok"]
    for c, v in zip(live, ifd_scores(load_model(ctx, ctx.policy), live)):
        c["ifd_small"] = v
    if ctx.star_large_model:
        large = ifd_scores(load_model(ctx, ctx.star_large_model), live)
        both = [(c, v) for c, v in zip(live, large) if v is not None and c["ifd_small"] is not None]
        for (c, v), d in zip(both, dual_ifd([c["ifd_small"] for c, _ in both], [v for _, v in both])):
            c["ifd_large"], c["dual_ifd"] = v, d
    # the reference: the first base pair's sample; where it failed the seed's checks, the first
    # candidate that passed them (so a seed whose own response fails can still be rewritten)
    ref = next(iter(live), cands[0]) if cands[0]["status"] == "failed checks" else cands[0]
    others = [c for c in live if c is not ref]
    if ref["status"] == "ok":
        ref.update(judge=0.5, verdict="reference")
        verdicts = pairwise(load_model(ctx, ctx.judge), [c["instruction"] for c in others], [c["response"] for c in others],
                            [ref["response"]] * len(others), system=ctx.prompt("JUDGE_PAIRWISE_SYSTEM"),
                            template=ctx.prompt("JUDGE_PAIRWISE_PROMPT"), batch_size=ctx.batch_size,
                            max_new_tokens=ctx.judge_max_new_tokens, reading=ctx.judge_reading,
                            quality=(ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER")),
                            tie_margin=ctx.judge_tie_margin) if others else []
        for c, v in zip(others, verdicts):
            c.update(judge=v.score, verdict=v.winner, judge_reason=v.reasoning[:300])
    dual = any(c.get("dual_ifd") is not None for c in live)
    kind = "judge x dual_ifd" if dual else ("judge (dual IFD undefined: largest IFD difference <= 0)"
                                            if ctx.star_large_model else "judge (no star_large_model)")
    for c in live:
        j, d = c.get("judge"), c.get("dual_ifd")
        if j is None or (dual and d is None):
            c["score"] = None
        else:
            c["score"] = j * d if dual else j
    return kind


def best(cands: list[dict]) -> int | None:
    """Index of the highest score; a tie goes to the earlier candidate; None when nothing has a score."""
    scored = [(i, c["score"]) for i, c in enumerate(cands) if c.get("score") is not None]
    return max(scored, key=lambda t: (t[1], -t[0]))[0] if scored else None


def run_seed(ctx: Context, index: int, seed_row: dict, probabilities: dict, agents: dict) -> dict:
    """The seed's record (see the module docstring)."""
    seed = {"instruction": instruction_of(seed_row), "response": response_of(seed_row)}
    if seed_row.get("checks"):
        seed["checks"] = list(seed_row["checks"])
    rng = random.Random(ctx.seed * 1_000_003 + index)
    neighbours = neighbour_pairs(ctx, seed["instruction"])
    sampled = sample_pairs(probabilities, [n["pair"] for n in neighbours], ctx.star_m, ctx.star_l, rng)
    pairs = [(b, "base") for b in ctx.star_base_pairs] + sampled
    cands = write_candidates(ctx, index, seed, pairs, agents)
    kind = score_candidates(ctx, cands)
    others = [i for i, c in enumerate(cands) if c["status"] == "ok" and c["source"] != "base"]
    return {"index": index, "seed": seed, "neighbours": neighbours, "sampled": [list(p) for p in sampled],
            "candidates": cands, "score_kind": kind, "kept": best(cands),
            "random": rng.choice(others) if others else None}


def remember(ctx: Context, record: dict, source: str) -> int:
    """Put the kept candidate into the memory bank when it scores at least ``star_memory_min_score``; rows added."""
    from memory import MemoryBank

    if record["kept"] is None:
        return 0
    c = record["candidates"][record["kept"]]
    if c["score"] < ctx.star_memory_min_score:
        return 0
    row = {"instruction": c["instruction"], "response": c["response"], "pair": c["pair"], "score": c["score"],
           "source": f"star-agents:{source}", "tags": ["star-agents", c["source"], c["pair"]]}
    return MemoryBank(ctx.memory_path, ctx.embedder).add([row])["added"]
