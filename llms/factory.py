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


def auto_threads() -> int:
    """Torch threads for this process: the cores it may run on that other processes leave free
    now (``llms.cpuload``: busy time over the last second, not the lagging load average), at
    least 1. Two torch threads on a core another job holds wait for each other at every op, so
    on a busy machine fewer threads finish sooner (bench/threads.py)."""
    from .cpuload import watch

    w = watch()
    return max(1, min(len(w.cores), int(len(w.cores) - w.others_busy() + 0.5)))


_PINNED: list[int] = []  # a count the caller or $ADS_THREADS fixed; empty: follow the machine


def _env_threads() -> int | None:
    if not os.environ.get("ADS_THREADS"):
        return None
    try:
        return int(os.environ["ADS_THREADS"])
    except ValueError:
        raise ModelError(f"ADS_THREADS={os.environ['ADS_THREADS']!r}: give a whole number of threads, e.g. 1") from None


def set_threads(threads: int | None = None) -> int:
    """Set torch's thread count: ``threads``, else ``$ADS_THREADS`` (either pins it for the
    process), else ``auto_threads()``, which ``follow_threads`` re-reads while models compute.
    Returns the count in use."""
    import torch

    threads = threads or _env_threads()
    if threads:
        _PINNED[:] = [int(threads)]
        torch.set_num_threads(int(threads))
    elif _PINNED:
        torch.set_num_threads(_PINNED[0])
    else:
        follow_threads()
    return torch.get_num_threads()


def follow_threads() -> int:
    """Unless the count is pinned, set torch's threads to what the machine leaves free now; the
    local backend calls this before each batch and each decoding step (a cheap read, a change
    only when the machine changed)."""
    import torch

    if not _PINNED:
        want = auto_threads()
        if want != torch.get_num_threads():
            torch.set_num_threads(want)
    return torch.get_num_threads()


def load(spec: str, *, dtype: str | None = None, threads: int | None = None, **opts) -> LLM:
    """Build (once per process per spec and options) the model named by ``spec``. A local model
    sets torch's thread count first (``set_threads``: ``threads``, ``$ADS_THREADS`` or automatic)."""
    ms = parse_spec(spec)
    if ms.backend == "local" or threads:
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
