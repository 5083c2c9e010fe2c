"""I-SHEEP self-assessment and the filters that keep the pairs worth training on.

``self_assess``: the model rates each (instruction, response) 1-10 for response quality and for
instruction following (``graph.prompts.SELF_ASSESS_PROMPT``). Where the backend gives
log-probabilities (``reading="auto"`` or ``"logprobs"``) each rating is the probability-weighted
mean over the rating tokens (``scoring.logprob``), so a small model's rating always exists;
otherwise the reply is parsed as text, and a reply without both numbers gives None for the
missing one (such pairs are counted and never pass a threshold).

Filters (each returns the kept rows and counts, with every dropped row and its reason in
``stats["dropped_rows"]`` as ``(row, reason)``; never drops silently):
* ``threshold_filter``: both ratings >= threshold (default 8, as I-SHEEP);
* ``perplexity_filter``: drop pairs whose response perplexity (given the instruction) is > 50;
* ``density_filter``: k-means (scikit-learn) over embeddings, then a seeded sample of the same size from each
  cluster, so dense regions of near-duplicates do not dominate the kept set.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from records import instruction_of, response_of

_RATING = {
    # "(?!\s*-\s*\d)": an echoed "<1-10>" placeholder is not a rating
    "quality": re.compile(r"quality\W{0,5}(\d{1,2})(?!\d)(?!\s*-\s*\d)", re.I),
    "following": re.compile(r"follow\w*\W{0,5}(\d{1,2})(?!\d)(?!\s*-\s*\d)", re.I),
}


@dataclass
class Assessment:
    quality: float | None  # 1-10 (a probability-weighted mean when read from log-probs)
    following: float | None
    raw: str = ""
    reading: str = "text"  # "text" (parsed reply) or "logprobs"

    @property
    def parsed(self) -> bool:
        return self.quality is not None and self.following is not None

    @property
    def score(self) -> float | None:
        """Mean of both ratings mapped to 0..1 (1 -> 0, 10 -> 1); None unless both parsed."""
        if not self.parsed:
            return None
        return ((self.quality + self.following) / 2 - 1) / 9

    def to_dict(self) -> dict:
        return {"quality": self.quality, "following": self.following, "assess_score": self.score,
                "reading": self.reading}


def parse_assessment(text: str) -> Assessment:
    """Read "Quality: N" and "Following: N" (N in 1..10; the last mention counts)."""
    found = {}
    for key, pattern in _RATING.items():
        values = [int(m.group(1)) for m in pattern.finditer(text or "")]
        values = [v for v in values if 1 <= v <= 10]
        found[key] = values[-1] if values else None
    return Assessment(quality=found["quality"], following=found["following"], raw=text or "")


READINGS = ("auto", "logprobs", "tokens", "text")


def self_assess(llm, rows: Sequence[dict], *, prompt: str, binary: dict | None = None, batch_size: int = 8,
                max_new_tokens: int = 32, reading: str = "auto") -> list[Assessment]:
    """The model's 1-10 ratings of each row, for quality and for following the instruction.

    ``reading``: "logprobs" (a yes/no-style question per axis, read from the answer words'
    probabilities: ``binary`` = {"quality": (question, answer), "following": (question, answer)},
    graph/prompts.py's JUDGE_* templates); "tokens" (the probability-weighted mean of ``prompt``'s
    1-10 rating tokens); "text" (a greedy reply to ``prompt``, parsed); "auto": "logprobs" where the
    backend gives log-probs, else "text". ``prompt`` is filled with ``instruction`` and ``response``
    (``SELF_ASSESS_PROMPT`` by default)."""
    import llms

    from .logprob import can_read_logprobs

    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}: use {', '.join(READINGS)}")
    if reading == "auto":
        reading = "logprobs" if can_read_logprobs(llm) else "text"
    pairs = [{"instruction": instruction_of(r), "response": response_of(r)} for r in rows]
    if reading == "logprobs":
        if not binary:
            raise ValueError("reading='logprobs' needs the binary questions (binary={'quality': (q, a), 'following': (q, a)})")
        return assess_binary(llm, pairs, binary, batch_size=batch_size)
    texts = [prompt.format(**p) for p in pairs]
    if reading == "tokens":
        return assess_by_rating_tokens(llm, texts, batch_size=batch_size)
    params = llms.SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    return [parse_assessment(g[0].text) for g in llm.generate(texts, params, batch_size=batch_size)]


def assess_binary(llm, pairs: Sequence[dict], binary: dict, *, batch_size: int = 8) -> list[Assessment]:
    """Each axis from its yes/no question: rating = 1 + 9 x p(positive word)."""
    from .logprob import binary_scores

    if not pairs:
        return []
    axes = {}
    for axis in ("quality", "following"):
        question, answer = binary[axis]
        axes[axis] = binary_scores(llm, [question.format(**p) for p in pairs], answer, batch_size=batch_size)
    return [Assessment(quality=1 + 9 * q, following=1 + 9 * f, reading="logprobs",
                       raw=f"p(quality)={q:.4f} p(following)={f:.4f}")
            for q, f in zip(axes["quality"], axes["following"])]


def assess_by_rating_tokens(llm, texts: Sequence[str], *, batch_size: int = 8) -> list[Assessment]:
    """Both ratings from the rating tokens' probabilities: the reply is started with "Quality: ",
    then with the expected quality rounded and "Following: "."""
    from .logprob import RATINGS, rating_from_logprobs

    if not texts:
        return []
    split = llm.count_tokens("10") > 1
    heads = [llm.render(t) + "Quality: " for t in texts]
    quality = [rating_from_logprobs(lp, ten_starts_with_one=split)
               for lp in llm.next_token_logprobs(heads, RATINGS, batch_size=batch_size)]
    follow_heads = [h + f"{round(q['rating'] or 1)}\nFollowing: " for h, q in zip(heads, quality)]
    following = [rating_from_logprobs(lp, ten_starts_with_one=split)
                 for lp in llm.next_token_logprobs(follow_heads, RATINGS, batch_size=batch_size)]
    out = []
    for q, f in zip(quality, following):
        raw = f"quality probs {[round(x, 3) for x in q['probs']]} (mass {q['mass']:.3f}); " \
              f"following probs {[round(x, 3) for x in f['probs']]} (mass {f['mass']:.3f})"
        out.append(Assessment(quality=q["rating"], following=f["rating"], raw=raw, reading="tokens"))
    return out


def threshold_filter(rows: Sequence[dict], assessments: Sequence[Assessment], *,
                     threshold: float = 8) -> tuple[list[dict], dict]:
    """Keep rows whose quality and following ratings are both >= threshold (a rating exactly at
    the threshold is kept; an unparsable one never is)."""
    if len(rows) != len(assessments):
        raise ValueError(f"{len(rows)} rows but {len(assessments)} assessments")
    kept, dropped = [], []
    for r, a in zip(rows, assessments):
        if not a.parsed:
            dropped.append((r, "no rating (the assessment did not parse)"))
        elif a.quality < threshold or a.following < threshold:
            dropped.append((r, f"ratings quality {round(a.quality, 3):g} / following {round(a.following, 3):g} below {threshold:g}"))
        else:
            kept.append(r)
    unparsable = sum(not a.parsed for a in assessments)
    return kept, {"kept": len(kept), "dropped": len(dropped), "unparsable": unparsable, "dropped_rows": dropped}


def perplexity_filter(llm, rows: Sequence[dict], *, max_ppl: float = 50.0,
                      batch_size: int | None = None) -> tuple[list[dict], dict]:
    """Drop rows whose response perplexity given the instruction exceeds ``max_ppl`` (or is empty)."""
    from .ifd import DEFAULT_BATCH_SIZE, perplexity

    ppl = perplexity(llm, rows, batch_size=batch_size or DEFAULT_BATCH_SIZE)
    kept = [r for r, p in zip(rows, ppl) if p is not None and p <= max_ppl]
    dropped = [(r, "empty response: no perplexity" if p is None else f"perplexity {p:.1f} > {max_ppl:g}")
               for r, p in zip(rows, ppl) if p is None or p > max_ppl]
    return kept, {"kept": len(kept), "dropped": len(dropped), "perplexities": ppl, "dropped_rows": dropped}


def density_filter(rows: Sequence[dict], embed: Callable[[list[str]], Sequence[Sequence[float]]], *,
                   n_clusters: int, per_cluster: int, seed: int = 0) -> tuple[list[dict], dict]:
    """Cluster the rows' embeddings (``embed(texts) -> vectors``, text = instruction + response)
    and keep a seeded random sample of up to ``per_cluster`` rows from each cluster, in input order."""
    if not rows:
        return [], {"kept": 0, "dropped": 0, "clusters": [], "dropped_rows": []}
    import numpy as np
    from sklearn.cluster import KMeans

    texts = [f"{instruction_of(r)}\n{response_of(r)}" for r in rows]
    vectors = np.asarray(embed(texts), dtype=np.float64)
    labels = KMeans(n_clusters=min(n_clusters, len(rows)), n_init=10, random_state=seed).fit_predict(vectors)
    rng = random.Random(seed)
    keep: set[int] = set()
    sizes = []
    for j in sorted(set(labels.tolist())):
        members = [i for i, lab in enumerate(labels) if lab == j]
        sizes.append(len(members))
        keep.update(rng.sample(members, min(per_cluster, len(members))))
    kept = [r for i, r in enumerate(rows) if i in keep]
    size_of = dict(zip(sorted(set(labels.tolist())), sizes))
    dropped = [(r, f"cluster {labels[i]} of {size_of[labels[i]]} rows: not among its {per_cluster} sampled")
               for i, r in enumerate(rows) if i not in keep]
    return kept, {"kept": len(kept), "dropped": len(dropped), "clusters": sizes, "dropped_rows": dropped}
