"""Retrieval on the default corpus: index build time, query latency, peak memory.

    .venv/bin/python bench/retrieval.py [--queries 100] [--full-build]

Queries are the first N NQ-open dev questions (../shared/data), run through the tool's own path
(BM25 top 1000, dense rerank with the precomputed vectors). Prints, from this one run:
  - build: bm25s index time, passage-encoding rate on a sample (and --full-build: a whole fresh build)
  - `p50: N ms` / `p95: N ms` of the two-stage query, and of BM25 alone
  - the ratio of a query's cost to re-encoding its 1,000 candidates (what precomputed vectors save)
  - the ratio of one-thread to two-thread query encoding (why queries run on one thread)
  - peak resident memory
Target: p95 < 50 ms on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from tools.corpus import DEFAULT_CORPUS, build, ensure_corpus, passage_text  # noqa: E402
from tools.retrieval import bm25_candidates, search  # noqa: E402

NQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "nq-open" / "NQ-open.dev.jsonl"
FALLBACK = ["Who painted the Mona Lisa?", "What is the largest planet?", "How does photosynthesis work?",
            "When did the French Revolution start?", "What is the speed of light?"]


def queries(n: int) -> list[str]:
    if NQ.exists():
        rows = [json.loads(line) for line in NQ.read_text().splitlines()[:n]]
        return [r["question"] for r in rows]
    return (FALLBACK * (n // len(FALLBACK) + 1))[:n]


def percentiles(ms: list[float]) -> str:
    return f"p50: {np.percentile(ms, 50):.1f} ms  p95: {np.percentile(ms, 95):.1f} ms"


def timed(fn, items) -> list[float]:
    out = []
    for x in items:
        t0 = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--sample", type=int, default=512, help="Passages encoded to measure the encoding rate.")
    ap.add_argument("--full-build", action="store_true", help="Also build the whole corpus afresh in a temp folder.")
    args = ap.parse_args()

    import bm25s
    import torch

    from llms.embeddings import load_embedder

    t0 = time.perf_counter()
    corpus = ensure_corpus(DEFAULT_CORPUS)
    print(f"corpus: {len(corpus):,} passages, load {time.perf_counter() - t0:.2f} s; recorded build "
          f"{corpus.meta['build_seconds']} s (vectors {corpus.meta['embed_seconds']} s) at {corpus.meta['built_at']}")
    texts = [passage_text(p) for p in corpus.passages]
    embedder = load_embedder(corpus.embedder)

    t0 = time.perf_counter()
    bm25s.BM25().index(bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False), show_progress=False)
    bm25_build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.sample, len(texts)), replace=False)]
    t0 = time.perf_counter()
    embedder.encode(sample)
    per_passage = (time.perf_counter() - t0) / len(sample)
    print(f"build: bm25s index {bm25_build:.1f} s; encoding {1 / per_passage:.0f} passages/s "
          f"-> vectors for all {len(texts):,} ~{per_passage * len(texts):.0f} s (threads {torch.get_num_threads()})")
    if args.full_build:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            build("default", name=str(Path(tmp) / "wiki"), log=lambda m: None)
            print(f"full build: {time.perf_counter() - t0:.1f} s")

    qs = queries(args.queries)
    search(corpus, qs[0], embedder=embedder)  # warm-up
    two_stage = timed(lambda q: search(corpus, q, k=1, candidates=1000, embedder=embedder), qs)
    bm25_only = timed(lambda q: bm25_candidates(corpus, q, 1000), qs)
    print(f"two-stage query ({len(qs)} NQ-open questions): {percentiles(two_stage)}")
    print(f"bm25 stage alone: {percentiles(bm25_only)}")
    naive_ms = per_passage * 1000 * 1000
    print(f"ratio: re-encoding 1,000 candidates per query (~{naive_ms / 1000:.1f} s) / two-stage p50 = "
          f"{naive_ms / np.percentile(two_stage, 50):.0f}x")

    # Query encoding with the torch thread count as it is vs forced to one (what Embedder does).
    import llms.embeddings as emb

    single = timed(lambda q: embedder.encode_queries(q), qs[:30])
    threads = torch.get_num_threads()
    orig = emb._threads
    emb._threads = lambda n: orig(None)  # leave the process's thread count in place
    try:
        multi = timed(lambda q: embedder.encode_queries(q), qs[:30])
    finally:
        emb._threads = orig
    print(f"query encode, 1 thread: {percentiles(single)}; {threads} threads: {percentiles(multi)}; "
          f"ratio {np.percentile(multi, 50) / np.percentile(single, 50):.1f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
