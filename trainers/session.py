"""Generation and training take turns on the accelerator.

vLLM reserves most of the GPU for its KV cache, and a transformers policy keeps its weights
there, so a trainer started beside them runs out of memory (a known failure in similar tools).
``release(llm)`` gives the engine's memory back before training; ``reload`` builds the updated
policy (base + new adapter) after it.
"""

from __future__ import annotations

import llms


def with_adapter(spec: str, adapter_dir) -> str:
    """The spec of the updated policy: the same backend and base, with ``adapter_dir``.

    An adapter already in ``spec`` is replaced, not stacked: training continued it, so the new
    adapter holds everything."""
    ms = llms.parse_spec(spec)
    if ms.backend == "openai":  # an endpoint serves what it was started with
        raise llms.ModelError(f"'{spec}' cannot take a LoRA adapter: use a local: or vllm: spec, or restart "
                              "the server with the adapter (vllm serve BASE --enable-lora --lora-modules ...)")
    return str(llms.ModelSpec(ms.backend, ms.name, adapter=str(adapter_dir)))


def on_accelerator(llm: "llms.LLM") -> bool:
    info = llm.info or {}
    return info.get("backend") == "vllm" or str(info.get("device", "")).startswith("cuda")


def release(llm: "llms.LLM | None", *, force: bool = False) -> bool:
    """Free the generation engine's accelerator memory and drop it from the model cache, so the
    next ``llms.load`` of its spec builds a fresh one. A model on the CPU is kept (RAM is not
    contended and reloading costs time) unless ``force``. Returns whether it was released."""
    if llm is None or not (force or on_accelerator(llm)):
        return False
    llms.unload(llm.spec)  # releases it when the factory cached it
    llm.release()  # and when it was built elsewhere; releasing twice is harmless
    return True


def reload(spec: str, adapter_dir, **opts) -> "llms.LLM":
    """Build the updated policy (``spec``'s base + ``adapter_dir``) through the factory."""
    return llms.load(with_adapter(spec, adapter_dir), **opts)
