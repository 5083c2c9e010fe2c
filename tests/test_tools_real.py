"""The APIs on the real default corpus (10,033 Wikipedia leads) and the real SmolLM2."""

from __future__ import annotations

import time

import pytest

from graph.context import Context
from tools import call_tool
from tools.corpus import DEFAULT_CORPUS, ensure_corpus

pytestmark = pytest.mark.real


@pytest.fixture(scope="session")
def wiki_corpus():
    """The default corpus, built once if $ADS_HOME holds none (a few minutes on 2 cores), else reused."""
    t0 = time.perf_counter()
    corpus = ensure_corpus(DEFAULT_CORPUS)
    print(f"\nwiki-offline ready in {time.perf_counter() - t0:.1f} s (build_seconds {corpus.meta['build_seconds']})")
    return corpus


@pytest.fixture
def real_ctx(tmp_path, wiki_corpus, smollm) -> Context:
    return Context(cache_path=str(tmp_path / "cache.sqlite"), max_new_tokens=80, demonstrations_per_call=2)


def test_mona_lisa_on_the_default_corpus(wiki_corpus, tmp_path):
    assert len(wiki_corpus) == 10_033
    res = call_tool("information_retrieval", "Who painted the Mona Lisa?", Context(cache_path=str(tmp_path / "c.sqlite"), retrieval_k=1))
    (row,) = res.rows
    assert row["title"] == "Mona Lisa" and "Leonardo da Vinci" in row["text"]
    assert res.provenance["corpus_version"] == wiki_corpus.version and res.provenance["bm25_candidates"] == 1000


def test_demonstrations_on_smollm(real_ctx, smollm):
    res = call_tool("demonstration_generation", "photosynthesis", real_ctx)
    assert res.ok, res.error
    assert res.rows and all(r["instruction"] and r["response"] for r in res.rows)
    assert res.rows[0]["provenance"]["generated_by"] == real_ctx.policy and res.tokens > 0
    assert res.provenance["kept"] + res.provenance["rejected"] >= 1


def test_grounded_qa_on_smollm(real_ctx, smollm):
    res = call_tool("question_answering", "Who painted the Mona Lisa?", real_ctx)
    assert res.ok, res.error
    prov = res.rows[0]["provenance"]
    assert prov["answered_by"] == real_ctx.policy and prov["teacher"] is None and "Mona Lisa" in prov["grounded_in"]
    assert "Leonardo" in res.rows[0]["response"]  # it read the passage
    again = call_tool("question_answering", "who painted the mona lisa?", real_ctx)
    assert again.cached and again.rows == res.rows
