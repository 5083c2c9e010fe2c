"""A persistent cache of generations and log-prob scores (SQLite), so the same model call never
runs twice: ``cached(llm, path)`` wraps any ``LLM`` and sends only the cache misses to it, as one
batch.

The key covers everything that can change an output: the model (its spec, the dtype asked for
and the dtype loaded, a content hash of a LoRA adapter, so an adapter retrained at the same path
is another model, and the size and time of the base weights' files), every ``SamplingParams``
field (seed included), and the exact prompt (text, or chat messages). With sampling, the k-th
equal prompt of one call is its own entry, so asking for a prompt twice still gives two samples. Sampling without a seed asks for fresh randomness and is never
cached. Only finished calls are stored; a failing call stores nothing.

Several processes may share one file (WAL journal, writers wait for each other). The batch
size is not part of the key: it changes how prompts are grouped, not what is asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from records.store import JsonStore

from .base import LLM, Generation, SamplingParams


class GenerationCache:
    """Cached outputs by the sha256 of the call's parts (the table ``generations`` of a
    ``records.store.JsonStore``), labelled with the model spec."""

    def __init__(self, path: str | Path):
        self.store = JsonStore(path, "generations")
        self.path = self.store.path

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        return self.store.get_many(keys)

    def put_many(self, entries: Sequence[tuple[str, str, str, Any]]) -> None:
        """Store ``(key, model spec, kind, payload)`` entries in one transaction."""
        self.store.put_many([(k, model, payload) for k, model, _kind, payload in entries])

    def stats(self) -> dict:
        by_model = self.store.counts()
        return {"path": str(self.path), "entries": sum(by_model.values()), "by_model": by_model}


# ---- what identifies a model ----------------------------------------------------------------

_DIGESTS: dict[tuple, str] = {}  # (folder, its files' sizes and mtimes) -> content hash, per process
_DIGEST_LOCK = threading.Lock()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _stat_signature(folder: Path) -> tuple:
    return tuple((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns) for p in _files(folder) for st in [p.stat()])


def content_digest(folder: str | Path) -> str:
    """sha256 over every file (names and bytes) of ``folder``; recomputed only when a file's size or
    modification time changed since the last call in this process."""
    folder = Path(folder)
    sig = (str(folder.resolve()), _stat_signature(folder))
    with _DIGEST_LOCK:
        if sig in _DIGESTS:
            return _DIGESTS[sig]
    h = hashlib.sha256()
    for p in _files(folder):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    with _DIGEST_LOCK:
        _DIGESTS[sig] = h.hexdigest()
    return _DIGESTS[sig]


def model_identity(llm: LLM, dtype: str | None = None, spec: str | None = None) -> dict:
    """Everything about a loaded model (built from ``spec``, default its own) that can change its
    outputs, as a JSON-able dict."""
    from .factory import parse_spec

    spec = spec or llm.spec
    ident: dict = {"spec": spec, "dtype": dtype, "loaded_dtype": (llm.info or {}).get("dtype")}
    try:
        adapter = parse_spec(spec).adapter
    except Exception:  # a spec only a registered backend understands: the spec alone names it
        adapter = None
    adapter = adapter or getattr(llm, "adapter", None)
    if adapter:
        ident["adapter"] = content_digest(adapter) if Path(adapter).is_dir() else str(adapter)
    weights = getattr(llm, "path", None) or getattr(llm, "name", None)
    if isinstance(weights, str) and weights and Path(weights).is_dir():
        # the base is large: its files' sizes and times stand for its content (a re-conversion changes them)
        ident["weights"] = hashlib.sha256(repr(_stat_signature(Path(weights))).encode()).hexdigest()
    return ident


def call_key(identity: dict, kind: str, payload: dict) -> str:
    parts = {"model": identity, "kind": kind, **payload}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _prompt_json(prompt) -> Any:
    return prompt if isinstance(prompt, str) else [dict(m) for m in prompt]


# ---- the wrapper -------------------------------------------------------------------------------

@dataclass
class CachedLLM(LLM):
    """``inner`` behind the generation cache; every other attribute is ``inner``'s."""

    inner: Any = None
    cache: GenerationCache | None = None
    identity: dict = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def __getattr__(self, name):  # tokenizer, model, path ...: the wrapped model's
        if name.startswith("__") or name in ("inner", "cache", "identity"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def generate(self, prompts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        return self._generate("chat", prompts, params, batch_size, self.inner.generate)

    def _generate(self, kind: str, prompts, params, batch_size: int, run: Callable) -> list[list[Generation]]:
        params = params or SamplingParams()
        prompts = list(prompts)
        sampling = params.temperature > 0
        if sampling and params.seed is None:
            return run(prompts, params, batch_size=batch_size)
        seen: dict[str, int] = {}
        keys = []
        for p in prompts:
            body = {"params": dataclasses.asdict(params), "prompt": _prompt_json(p)}
            if sampling:  # the k-th equal prompt of a sampled call is its own sample
                text = json.dumps(body["prompt"], sort_keys=True)
                body["occurrence"] = seen[text] = seen.get(text, -1) + 1
            keys.append(call_key(self.identity, kind, body))
        outputs = self._fill(kind, keys, prompts, lambda todo: run(todo, params, batch_size=batch_size),
                             lambda gens: [dataclasses.asdict(g) for g in gens])
        return [[Generation(**g) for g in out] for out in outputs]

    def logprobs(self, contexts, continuations, *, batch_size: int = 8) -> list[list[float]]:
        if len(contexts) != len(continuations):
            raise ValueError("contexts and continuations must have the same length")
        pairs = list(zip(contexts, continuations))
        keys = [call_key(self.identity, "logprobs", {"context": c, "continuation": r}) for c, r in pairs]

        def run(todo):
            return self.inner.logprobs([c for c, _ in todo], [r for _, r in todo], batch_size=batch_size)

        return [list(v) for v in self._fill("logprobs", keys, pairs, run, list)]

    def next_token_logprobs(self, texts, candidates, *, batch_size: int = 8) -> list[list[float]]:
        candidates = list(candidates)
        keys = [call_key(self.identity, "next_token", {"text": t, "candidates": candidates}) for t in texts]

        def run(todo):
            return self.inner.next_token_logprobs(todo, candidates, batch_size=batch_size)

        return [list(v) for v in self._fill("next_token", keys, list(texts), run, list)]

    def _fill(self, kind: str, keys: list[str], items: list, run: Callable, encode: Callable) -> list:
        """The stored output of every key; the missing ones computed by ``run`` in one batch, in order.
        Equal items within one call are all sent: a cold call asks the model exactly what it was asked."""
        found = self.cache.get_many(keys)
        results = [found.get(k) for k in keys]
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = [encode(out) for out in run([items[i] for i in todo])]
            for i, value in zip(todo, fresh):
                results[i] = value
            self.cache.put_many([(keys[i], self.spec, kind, value) for i, value in zip(todo, fresh)])
        return results

    # -- what is not cached: cheap, or not an output ---------------------------------------------
    def render(self, prompt, *, add_generation_prompt: bool = True) -> str:
        return self.inner.render(prompt, add_generation_prompt=add_generation_prompt)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def release(self) -> None:
        self.inner.release()


@dataclass
class CachedRawLLM(CachedLLM):
    """A cached backend that also continues raw text (local, vLLM): ``generate_raw`` is cached too."""

    def generate_raw(self, texts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        return self._generate("raw", texts, params, batch_size, self.inner.generate_raw)


_CLASSES: dict[type, type] = {}


def _wrapper_class(inner: type) -> type:
    """A wrapper class that offers exactly what ``inner`` offers: a method ``inner`` leaves to the
    ``LLM`` base (e.g. log-prob scoring on an endpoint without it) stays the base's, so code that
    asks what a model can do gets the same answer with and without the cache."""
    if inner not in _CLASSES:
        base = CachedRawLLM if hasattr(inner, "generate_raw") else CachedLLM
        kept = {name: getattr(LLM, name) for name in ("logprobs", "next_token_logprobs")
                if hasattr(LLM, name) and getattr(inner, name) is getattr(LLM, name)}
        _CLASSES[inner] = dataclass(type(f"Cached{inner.__name__}", (base,), {**kept, "__module__": __name__}))
    return _CLASSES[inner]


def default_path() -> Path:
    from .registry import ads_home

    return ads_home() / "generation_cache.sqlite"


def cached(llm: LLM, path: str | Path | None = None, *, dtype: str | None = None, spec: str | None = None) -> CachedLLM:
    """``llm`` (loaded from ``spec`` with ``dtype``) answering repeated calls from the cache at
    ``path`` (default $ADS_HOME/generation_cache.sqlite)."""
    if isinstance(llm, CachedLLM):
        llm = llm.inner
    cls = _wrapper_class(type(llm))
    cache = GenerationCache(path or default_path())
    return cls(spec=llm.spec, info={**(llm.info or {}), "generation_cache": str(cache.path)}, inner=llm, cache=cache,
               identity=model_identity(llm, dtype, spec))




def load_cached(spec: str, *, dtype: str | None = None, path: str | Path | None = None, enabled: bool = True) -> LLM:
    """The model ``spec`` (with ``dtype``) behind the generation cache at ``path``, or bare when
    ``enabled`` is false: the one way a run's nodes and tools load the models they generate with."""
    from .factory import load

    llm = load(spec, dtype=dtype)
    return cached(llm, path, dtype=dtype, spec=spec) if enabled else llm
