"""Two-stage retrieval, as in the ADS paper: BM25 picks candidates, a dense model reranks them.

Stage 1: bm25s scores every passage; the top ``min(candidates, N)`` with a positive score go on.
Stage 2: the query is encoded once and dotted with the corpus vectors precomputed at build time;
the best ``k`` come back. A query with no word in the corpus vocabulary skips stage 1 (the dense
model then ranks the whole corpus) and says so in the provenance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .corpus import BM25_STOPWORDS, Corpus


@dataclass
class Hit:
    id: int
    title: str
    text: str
    score: float  # dense similarity (cosine) of query and passage
    bm25_score: float
    bm25_rank: int | None  # 0-based rank among the BM25 candidates; None when stage 1 was skipped


def bm25_candidates(corpus: Corpus, query: str, candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the BM25 top ``min(candidates, N)`` with positive score, best first, and all N scores."""
    import bm25s

    tokens = bm25s.tokenize([query], stopwords=BM25_STOPWORDS, return_ids=False, show_progress=False)[0]
    vocab = corpus.bm25.vocab_dict
    tokens = [t for t in tokens if t in vocab]
    if not tokens:
        return np.empty(0, dtype=np.int64), np.zeros(len(corpus), dtype=np.float32)
    scores = np.asarray(corpus.bm25.get_scores(tokens), dtype=np.float32)
    n = min(candidates, len(scores))
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[scores[top] > 0]
    return top[np.argsort(-scores[top], kind="stable")], scores


def search(corpus: Corpus, query: str, *, k: int = 1, candidates: int = 1000, embedder=None) -> list[Hit]:
    """The ``k`` best passages for ``query`` (BM25 top ``candidates``, then the dense rerank)."""
    from llms.embeddings import load_embedder

    ids, bm25 = bm25_candidates(corpus, query, candidates)
    stage1 = ids.size > 0
    if not stage1:
        ids = np.arange(len(corpus))
    embedder = embedder or load_embedder(corpus.embedder)  # queries must live in the corpus's vector space
    q = embedder.encode_queries(query)[0]
    dense = corpus.vectors[ids] @ q
    order = np.argsort(-dense, kind="stable")[:k]
    hits = []
    for j in order:
        i = int(ids[j])
        p = corpus.passages[i]
        hits.append(Hit(id=i, title=p["title"], text=p["text"], score=float(dense[j]),
                        bm25_score=float(bm25[i]), bm25_rank=int(j) if stage1 else None))
    return hits


# ---- the information_retrieval tool ---------------------------------------------------------

# passages a call when Context.retrieval_k is None (auto). On a knowledge task (held-out items
# carry answers) a run buys the topic's neighbourhood of the corpus, and icl-knn picks each
# question's rows from it: over three seeds' NQ validation splits (206 questions) the retrieval
# rule's gain rose with k (10: +4.4, 30: +5.8, 100: +6.3, 200: +9.7, 300: +10.7, 500: +10.2;
# docs/update-help.md). Elsewhere (no answers, or an update other than icl-knn, which alone picks
# each question's rows from the breadth): 10.
AUTO_K_ANSWERS = 300
AUTO_K_OTHER = 10


def passages_per_call(ctx, *, knowledge: bool = False) -> int:
    """What one call returns: ``ctx.retrieval_k``, or where it is None the auto value for a task
    whose held-out items carry answers (``knowledge``) or not."""
    if ctx.retrieval_k is not None:
        return ctx.retrieval_k
    return AUTO_K_ANSWERS if knowledge else AUTO_K_OTHER


def cache_parts(query: str, ctx) -> dict:
    from .corpus import ensure_corpus

    corpus = ensure_corpus(ctx.corpus)
    return {"model": corpus.embedder, "corpus": corpus.name, "corpus_version": corpus.version,
            "k": passages_per_call(ctx), "candidates": ctx.bm25_candidates}


def run(query: str, ctx):
    from .base import ToolOutput
    from .corpus import ensure_corpus

    corpus = ensure_corpus(ctx.corpus)
    hits = search(corpus, query, k=passages_per_call(ctx), candidates=ctx.bm25_candidates)
    provenance = {"corpus": corpus.name, "corpus_version": corpus.version, "embedder": corpus.embedder,
                  "bm25_candidates": min(ctx.bm25_candidates, len(corpus)),
                  "stage1": "bm25" if hits and hits[0].bm25_rank is not None else
                            "skipped: no query word in the corpus vocabulary; dense search over all passages"}
    rows = [{"type": "document", "text": h.text, "title": h.title, "score": round(h.score, 6),
             "provenance": {"corpus": corpus.name, "corpus_version": corpus.version, "passage_id": h.id,
                            "bm25_rank": h.bm25_rank, "bm25_score": round(h.bm25_score, 6)}}
            for h in hits]
    return ToolOutput(rows=rows, provenance=provenance)
