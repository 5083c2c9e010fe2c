"""question_answering: a stronger model answers; without one, the policy answers from retrieval.

With ``Context.teacher`` set (any model spec: an endpoint, a local model) the teacher answers
with the paper's prompt. Without one, the policy answers grounded in retrieved passages, and the
provenance of every row says exactly that: it never pretends a stronger model answered.
"""

from __future__ import annotations

import re

import llms

from . import retrieval
from .base import ToolError, ToolOutput, load_model
from .corpus import ensure_corpus

_ANSWER_PREFIX = re.compile(r"^\s*(?:\*\*)?answer(?:\*\*)?\s*:\s*", re.IGNORECASE)
NO_TEACHER_NOTE = "no stronger model configured"


def sampling(ctx) -> llms.SamplingParams:
    return llms.SamplingParams(max_new_tokens=ctx.max_new_tokens, temperature=ctx.temperature, seed=ctx.seed)


def cache_parts(question: str, ctx) -> dict:
    parts = {"model": ctx.teacher or ctx.policy, "dtype": ctx.dtype, "sampling": sampling(ctx).key()}
    if ctx.teacher:
        parts["prompt"] = ctx.prompt("QA_PROMPT")
    else:  # the answer also depends on which passages ground it
        corpus = ensure_corpus(ctx.corpus)
        parts.update(prompt=ctx.prompt("QA_GROUNDED_PROMPT"), corpus=corpus.name, corpus_version=corpus.version,
                     passages=ctx.qa_passages, candidates=ctx.bm25_candidates)
    return parts


def run(question: str, ctx) -> ToolOutput:
    if ctx.teacher:
        prompt = ctx.prompt("QA_PROMPT").format(question=question)
        provenance = {"answered_by": ctx.teacher, "teacher": ctx.teacher, "grounded_in": []}
        spec = ctx.teacher
    else:
        corpus = ensure_corpus(ctx.corpus)
        hits = retrieval.search(corpus, question, k=ctx.qa_passages, candidates=ctx.bm25_candidates)
        passages = "\n\n".join(f"[{i}] {h.title}: {h.text}" for i, h in enumerate(hits, 1))
        prompt = ctx.prompt("QA_GROUNDED_PROMPT").format(passages=passages, question=question)
        provenance = {"answered_by": ctx.policy, "grounded_in": [h.title for h in hits], "teacher": None,
                      "note": NO_TEACHER_NOTE, "corpus": corpus.name, "corpus_version": corpus.version}
        spec = ctx.policy
    g = load_model(ctx, spec).generate([prompt], sampling(ctx), batch_size=ctx.batch_size)[0][0]
    answer = _ANSWER_PREFIX.sub("", g.text).strip()
    tokens = g.prompt_tokens + g.completion_tokens
    if not answer:
        raise ToolError(f"{spec} returned an empty answer to {question!r}", provenance=provenance, tokens=tokens)
    provenance["finish_reason"] = g.finish_reason
    row = {"type": "qa", "instruction": question, "response": answer, "provenance": dict(provenance)}
    return ToolOutput(rows=[row], provenance=provenance, tokens=tokens)
