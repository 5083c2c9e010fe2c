"""The instruction memory bank: instruction-response pairs in Chroma, found by instruction meaning.

Rows go in once per instruction (the id is a hash of the normalized instruction), so adding the
same data twice changes nothing. Each row keeps where it came from: ``origin`` (a file, a run),
``pair`` (the Star-Agents agent pair that wrote it), ``score`` (the score it was kept with) and
``tags``; ``search`` returns them with the row, so ``memory_search`` hands them to the optimizer.
The bank is a Chroma folder on disk: it survives restarts. Vectors come from the project's embedder (``llms.embeddings``),
never Chroma's default model, which would download ONNX weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from llms.registry import DEFAULT_EMBEDDER

COLLECTION = "instructions"


def _embedding_function_class():
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class ADSEmbeddingFunction(EmbeddingFunction[Documents]):
        """Chroma's view of ``llms.embeddings.load_embedder(spec)``."""

        def __init__(self, spec: str = DEFAULT_EMBEDDER):
            self.spec = spec

        def __call__(self, input: Documents) -> Embeddings:
            from llms.embeddings import load_embedder

            return list(load_embedder(self.spec).encode(list(input)))

        def embed_query(self, input: Documents) -> Embeddings:
            from llms.embeddings import load_embedder

            return list(load_embedder(self.spec).encode_queries(list(input)))

        @staticmethod
        def name() -> str:
            return "ads-flag-embedder"

        def default_space(self):
            return "cosine"

        def get_config(self) -> dict:
            return {"spec": self.spec}

        @staticmethod
        def build_from_config(config: dict) -> "ADSEmbeddingFunction":
            return ADSEmbeddingFunction(config.get("spec", DEFAULT_EMBEDDER))

    return ADSEmbeddingFunction


_EF_CLASS = None


def embedding_function(spec: str = DEFAULT_EMBEDDER):
    global _EF_CLASS
    if _EF_CLASS is None:  # registered once per process (registering twice raises)
        _EF_CLASS = _embedding_function_class()
    return _EF_CLASS(spec)


def instruction_id(instruction: str) -> str:
    return hashlib.sha256(" ".join(instruction.split()).casefold().encode()).hexdigest()[:32]


class MemoryBank:
    """``MemoryBank(path, embedder).add(rows)`` / ``.search(query, k)``; the client opens lazily."""

    def __init__(self, path: str | Path, embedder_spec: str = DEFAULT_EMBEDDER):
        self.path = Path(path).expanduser()
        self.embedder_spec = embedder_spec
        self._collection = None

    @property
    def collection(self):
        if self._collection is None:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            import chromadb
            from chromadb.config import Settings

            self.path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
            self._collection = client.get_or_create_collection(
                COLLECTION, embedding_function=embedding_function(self.embedder_spec),
                metadata={"embedder": self.embedder_spec},
            )
            stored = (self._collection.metadata or {}).get("embedder")
            if stored and stored != self.embedder_spec:
                raise ValueError(f"memory bank {self.path} was built with embedder '{stored}', not "
                                 f"'{self.embedder_spec}': use that embedder or another --memory-path")
        return self._collection

    def add(self, rows: list[dict]) -> dict:
        """Add rows with an ``instruction`` and a ``response`` (and optionally ``origin``/``source``,
        ``pair``, ``score``, ``tags``); returns counts added/duplicate/invalid."""
        fresh: dict[str, dict] = {}
        invalid = 0
        for r in rows:
            ins, resp = str(r.get("instruction") or "").strip(), str(r.get("response") or r.get("output") or "").strip()
            if not ins or not resp:
                invalid += 1
                continue
            fresh.setdefault(instruction_id(ins), {"instruction": ins, "meta": _metadata(r, resp)})
        existing = set(self.collection.get(ids=list(fresh), include=[])["ids"]) if fresh else set()
        new = {i: r for i, r in fresh.items() if i not in existing}
        if new:
            self.collection.add(ids=list(new), documents=[r["instruction"] for r in new.values()],
                                metadatas=[r["meta"] for r in new.values()])
        return {"added": len(new), "duplicate": len(rows) - invalid - len(new), "invalid": invalid}

    def search(self, query: str, k: int = 2) -> list[dict]:
        """The ``k`` stored rows whose instructions are nearest in meaning to ``query``, nearest first,
        each with its similarity (``score``), and the ``pair``, ``data_score`` and ``tags`` it was stored with."""
        n = self.count()
        if n == 0:
            return []
        res = self.collection.query(query_texts=[query], n_results=min(k, n),
                                    include=["documents", "metadatas", "distances"])
        out = []
        for mid, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]):
            tags = [t for t in str(meta.get("tags") or "").split(",") if t]
            out.append({"type": "memory", "instruction": doc, "response": meta["response"], "score": round(1 - dist, 6),
                        "pair": meta.get("pair") or None, "data_score": meta.get("score"), "tags": tags,
                        "provenance": {"memory_path": str(self.path), "memory_id": mid, "origin": meta.get("origin", ""),
                                       "pair": meta.get("pair") or None, "data_score": meta.get("score"), "tags": tags}})
        return out

    def count(self) -> int:
        return self.collection.count()

    def stats(self) -> dict:
        return {"path": str(self.path), "embedder": self.embedder_spec, "rows": self.count()}


def _metadata(row: dict, response: str) -> dict:
    """Chroma metadata of a row: scalars only (no None, no lists), so tags are joined with commas."""
    meta = {"response": response, "origin": str(row.get("source") or row.get("origin") or ""),
            "pair": str(row.get("pair") or ""), "tags": ",".join(str(t).replace(",", " ") for t in row.get("tags") or [])}
    if isinstance(row.get("score"), (int, float)) and not isinstance(row.get("score"), bool):
        meta["score"] = float(row["score"])
    return meta


def read_rows(path: str | Path) -> list[dict]:
    """Rows from a JSONL file (or a JSON list): instruction/response, or Alpaca's instruction/input/output.
    A malformed file raises ``records.RecordError`` naming its line."""
    from records import read_records

    rows = []
    for x in read_records(path):
        ins = x.get("instruction") or x.get("prompt") or x.get("question") or ""
        if x.get("input"):
            ins = f"{ins}\n\n{x['input']}"
        rows.append({"instruction": ins, "response": x.get("response") or x.get("output") or x.get("answer") or "",
                     "source": x.get("source", Path(path).name)})
    return rows
