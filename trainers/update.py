"""How a policy is updated with curated rows, and how the updated policy is then asked.

``update_policy(kind, rows, ...)`` returns a plain dict that describes the updated policy (it goes
into the graph's state and report):

* ``icl``: the rows packed into the policy's context, best scored first, within a token budget
  (the ADS paper's in-context update): ``{"kind": "icl", "policy", "context", "rows_used", ...}``;
* ``icl-knn``: for each instruction the policy is asked, the curated rows most similar to it
  (embedding cosine), packed within the same token budget; rows below ``min_similarity`` are
  never used, so an instruction no row resembles is asked with no context at all and irrelevant
  data cannot derail its answer; with ``min_overlap`` a row must also hold that share of the
  question's content words (an agreement check: a passage on a neighbouring subject, alike in
  embedding, that names none of the question's terms stays out); with ``min_context_overlap`` the
  packed context as a whole must hold that share, or the question is asked bare (a context that
  names too few of the question's terms cost more answers than it gave, see docs/update-help.md);
  with ``min_answer_support`` an answer given with a context must draw that share of its new
  content words from it, else the answer without the context stands (``gives_way``, applied
  where the policy is asked, graph/heldout.py):
  ``{"kind": "icl-knn", "policy", "rows", "token_budget", "min_similarity", "min_overlap",
  "min_context_overlap", "min_answer_support"}``;
* ``sft``: a LoRA adapter trained on the rows (``trainers.sft.run_sft``):
  ``{"kind": "sft", "policy": "<base>+<adapter>", "adapter", "rows_used"}``.

``prompts_for(updated, instructions, icl_template, ...)`` gives the model spec to ask and the
prompt of each instruction: the packed context wrapped in the ICL prompt, or the instruction alone
for a trained adapter. Templates come in as arguments (graph/prompts.py holds the defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

KINDS = ("icl", "icl-knn", "sft")


def update_policy(kind: str, rows: Sequence[dict], *, policy: str, count_tokens: Callable[[str], int] | None = None,
                  icl_token_budget: int = 1024, document_template: str | None = None,
                  example_template: str | None = None, out_dir: str | Path | None = None,
                  recipe: str | None = None, score: Callable[[dict], float | None] | None = None,
                  min_similarity: float = 0.5, max_rows: int | None = None, min_overlap: float = 0.0,
                  min_context_overlap: float = 0.0, min_answer_support: float = 0.0, min_rows: int = 0) -> dict:
    """The updated policy of ``kind`` (see the module docstring) from the curated ``rows``."""
    if kind == "icl-knn":
        return {"kind": "icl-knn", "policy": policy, "rows": list(rows), "rows_used": len(rows),
                "token_budget": icl_token_budget, "min_similarity": min_similarity, "max_rows": max_rows,
                "min_overlap": min_overlap, "min_context_overlap": min_context_overlap,
                "min_answer_support": min_answer_support}
    if kind == "icl":
        from .icl import pack

        if count_tokens is None or document_template is None or example_template is None:
            raise ValueError("an icl update needs the policy's count_tokens and the ICL row templates")
        packed = pack(rows, count_tokens, icl_token_budget, document=document_template, example=example_template,
                      score=score)
        return {"kind": "icl", "policy": policy, "context": packed.text, "rows_used": len(packed.used),
                "rows_dropped": len(packed.dropped), "tokens": packed.tokens, "token_budget": icl_token_budget}
    if kind == "sft":
        if not rows:
            return {"kind": "sft", "policy": policy, "rows_used": 0,
                    "note": "no curated data: nothing to train, the policy is unchanged"}
        if len(rows) < min_rows:
            return {"kind": "sft", "policy": policy, "rows_used": 0, "rows_available": len(rows),
                    "note": f"{len(rows)} curated rows, fewer than sft_min_rows={min_rows}: not trained on (a handful "
                            "of rows is memorised, not learned), the policy is unchanged; buy more rows "
                            "(verify_samples, the budget) or lower sft_min_rows"}
        if out_dir is None:
            raise ValueError("an sft update needs out_dir for its adapter")
        from . import sft
        from .session import with_adapter

        adapter = sft.run_sft(None, rows, Path(out_dir), base=policy, recipe=recipe)
        return {"kind": "sft", "policy": with_adapter(policy, adapter), "adapter": str(adapter), "rows_used": len(rows),
                "recipe": str(recipe) if recipe else "default"}
    raise ValueError(f"unknown update {kind!r}: use {' or '.join(KINDS)}")


def prompts_for(updated: dict, instructions: Sequence[str], icl_template: str, *, encode=None,
                count_tokens: Callable[[str], int] | None = None, document_template: str | None = None,
                example_template: str | None = None) -> tuple[str, list[str]]:
    """(model spec, one prompt per instruction) for asking the updated policy. ``icl-knn`` also needs
    ``encode`` (texts -> unit vectors), ``count_tokens`` and the ICL row templates."""
    from .icl import icl_prompt

    if updated["kind"] == "icl":
        return updated["policy"], [icl_prompt(updated.get("context") or "", i, icl_template) for i in instructions]
    if updated["kind"] == "icl-knn":
        if encode is None or count_tokens is None or document_template is None or example_template is None:
            raise ValueError("icl-knn prompts need encode, count_tokens and the ICL row templates")
        contexts = nearest_contexts(updated, instructions, encode=encode, count_tokens=count_tokens,
                                    document_template=document_template, example_template=example_template)
        return updated["policy"], [icl_prompt(c, i, icl_template) for c, i in zip(contexts, instructions)]
    return updated["policy"], list(instructions)


# question words and auxiliaries that bm25s's English stopword list keeps: they say what is asked,
# not about what, so they never count for or against an agreement
QUESTION_WORDS = frozenset("who whom whose what which when where why how did does do done many much".split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` less English stopwords (the retriever's BM25 tokenization) and
    question words."""
    import bm25s

    return set(bm25s.tokenize([text], stopwords="en", return_ids=False, show_progress=False)[0]) - QUESTION_WORDS


def overlap(question: str, row_words: set[str]) -> float:
    """Share of the question's content words found in a row's (1.0 for a question with none)."""
    q = content_words(question)
    return len(q & row_words) / len(q) if q else 1.0


def answer_support(question: str, answer: str, prompt: str) -> float:
    """Share of the answer's content words that are not the question's and that the prompt it was
    asked with holds (0.0 for an answer that adds no word of its own: it says nothing the context
    could support)."""
    new = content_words(answer) - content_words(question)
    return len(new & content_words(prompt)) / len(new) if new else 0.0


def gives_way(question: str, prompt: str, answer: str, floor: float) -> bool:
    """Whether ``answer`` (to ``question``, asked with ``prompt``) gives way to the answer without
    a context: the prompt carried one (it is not the bare question) and the answer draws less than
    ``floor`` of its own words from it. Never at floor 0."""
    return bool(floor) and prompt != question and answer_support(question, answer, prompt) < floor


def nearest_rows(updated: dict, instructions: Sequence[str], *, encode) -> list[list[dict]]:
    """Per instruction: the rows at least ``min_similarity`` alike (and holding ``min_overlap`` of
    its content words), most similar first, at most ``max_rows`` of them (None: all), each with its
    ``knn_similarity``."""
    import numpy as np

    rows = updated.get("rows") or []
    if not rows or not instructions:
        return [[] for _ in instructions]
    texts = [f"{r.get('title') or ''}. {r.get('text') or ''}" if r.get("type") == "document" else str(r.get("instruction"))
             for r in rows]
    sims = np.asarray(encode(list(instructions)), dtype=np.float32) @ np.asarray(encode(texts), dtype=np.float32).T
    min_overlap = updated.get("min_overlap") or 0.0
    words = [content_words(f"{t} {r.get('response') or ''}") for t, r in zip(texts, rows)] if min_overlap else []
    out = []
    for question, row_sims in zip(instructions, sims):
        near = sorted(((float(s), i) for i, s in enumerate(row_sims) if s >= updated["min_similarity"]
                       and (not min_overlap or overlap(question, words[i]) >= min_overlap)), reverse=True)
        out.append([{**rows[i], "knn_similarity": s} for s, i in near[:updated.get("max_rows") or None]])
    return out


def nearest_contexts(updated: dict, instructions: Sequence[str], *, encode, count_tokens, document_template: str,
                     example_template: str, near: list[list[dict]] | None = None) -> list[str]:
    """Per instruction: its ``nearest_rows`` (or ``near``, already ranked by it) packed in the budget;
    empty where the packed text holds less than ``min_context_overlap`` of the question's content words."""
    from .icl import pack

    min_context = updated.get("min_context_overlap") or 0.0
    near = nearest_rows(updated, instructions, encode=encode) if near is None else near
    out = []
    for question, ranked in zip(instructions, near):
        packed = pack(ranked, count_tokens, updated["token_budget"], document=document_template, example=example_template,
                      score=lambda r: r["knn_similarity"])
        gated = min_context and packed.text and overlap(question, content_words(packed.text)) < min_context
        out.append("" if gated else packed.text)
    return out
