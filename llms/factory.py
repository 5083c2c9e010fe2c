"""The one place models are built. Tests swap ``load`` (or ``register_backend``), never call sites.

Specs:
  local:<name|dir|hub-name>[+<adapter-dir>]   transformers (CPU, or GPU when present)
  vllm:<name|dir|hub-name>                    vLLM in process (extra 'gpu')
  openai:<model>@<base_url>                   any OpenAI-compatible endpoint (e.g. `vllm serve`)
A bare name or folder means local. Packaged names: see ``python cli.py models list``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

from .base import LLM, ModelError
from .registry import PACKAGED, resolve_local


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    name: str
    base_url: str | None = None
    adapter: str | None = None

    def __str__(self) -> str:
        if self.backend == "openai":
            return f"openai:{self.name}@{self.base_url}"
        return f"{self.backend}:{self.name}" + (f"+{self.adapter}" if self.adapter else "")


def parse_spec(spec: str) -> ModelSpec:
    spec = (spec or "").strip()
    if not spec:
        raise ModelError("empty model spec: use e.g. local:smollm2-135m-instruct")
    backend, sep, rest = spec.partition(":")
    if not sep or os.path.exists(spec):
        backend, rest = "local", spec  # a bare name or a folder is a local model
    elif backend not in _BACKENDS:
        raise ModelError(
            f"unknown model backend '{backend}' in '{spec}': use local:, vllm: or openai: "
            "(python cli.py models list shows the packaged models)"
        )
    if not rest:
        raise ModelError(f"model spec '{spec}' names no model: use {backend}:<model>")
    if backend == "openai":
        model, at, url = rest.partition("@")
        url = url or os.environ.get("OPENAI_BASE_URL", "")
        if not model or not url:
            raise ModelError(
                f"spec '{spec}': an OpenAI-compatible spec is openai:<model>@<base_url>, "
                "e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1 (or set OPENAI_BASE_URL)"
            )
        return ModelSpec("openai", model, base_url=url)
    name, plus, adapter = rest.partition("+")
    return ModelSpec(backend, name, adapter=adapter or None)


def _load_local(ms: ModelSpec, **opts) -> LLM:
    from .local import LocalLLM

    return LocalLLM.open(str(ms), resolve_local(ms.name), adapter=ms.adapter, dtype=opts.get("dtype"),
                         device=opts.get("device"))


def _load_vllm(ms: ModelSpec, **opts) -> LLM:
    from .vllm_backend import VLLM

    name = resolve_local(ms.name) if ms.name in PACKAGED else ms.name
    return VLLM.open(str(ms), name, adapter=ms.adapter, **opts)


def _load_openai(ms: ModelSpec, **opts) -> LLM:
    from .openai_compat import OpenAICompatLLM

    return OpenAICompatLLM.open(str(ms), ms.name, ms.base_url, **opts)


_BACKENDS: dict[str, Callable[..., LLM]] = {"local": _load_local, "vllm": _load_vllm, "openai": _load_openai}
_CACHE: dict[tuple, LLM] = {}
_LOCK = threading.Lock()


def register_backend(name: str, loader: Callable[..., LLM]) -> None:
    """Add a backend (tests register a 'fake' one; apps may register their own)."""
    _BACKENDS[name] = loader


def load(spec: str, *, dtype: str | None = None, threads: int | None = None, **opts) -> LLM:
    """Build (once per process per spec and options) the model named by ``spec``. A local model
    sets torch's thread count first (``set_threads``: ``threads``, ``$ADS_THREADS`` or automatic)."""
    ms = parse_spec(spec)
    if ms.backend == "local" or threads:
        from .threads import set_threads

        set_threads(threads)
    key = (str(ms), dtype, tuple(sorted(opts.items())))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _BACKENDS[ms.backend](ms, dtype=dtype, **opts)
        return _CACHE[key]


def unload(spec: str | None = None, *, backend: str | None = None) -> None:
    """Forget (and release) cached models: all, those of one spec, or those of one backend."""
    with _LOCK:
        for key in list(_CACHE):
            if backend is not None and not key[0].startswith(backend + ":"):
                continue
            if spec is None or key[0] == str(parse_spec(spec)):
                _CACHE.pop(key).release()
