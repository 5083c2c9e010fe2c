"""vLLM in process (GPU). vLLM pins its own torch/transformers, so it lives in its own environment:

    python -m venv .venv-gpu && .venv-gpu/bin/pip install -e '.[gpu]'

Its import stays inside ``open`` so the CPU environment never needs it.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

from .base import LLM, Generation, ModelError, SamplingParams, as_messages

INSTALL = ("vLLM is not installed in this environment. On a GPU box: "
           "python -m venv .venv-gpu && .venv-gpu/bin/pip install -e '.[gpu]' "
           "(vLLM pins its own torch, so keep it apart from the CPU venv), or run `vllm serve MODEL` "
           "and use the spec openai:MODEL@http://HOST:8000/v1")


@dataclass
class VLLM(LLM):
    name: str = ""
    adapter: str | None = None
    engine: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, spec: str, name: str, *, adapter: str | None = None, dtype: str | None = None,
             gpu_memory_utilization: float = 0.85, max_model_len: int | None = None, **_) -> "VLLM":
        try:
            import vllm
        except ImportError as e:
            raise ModelError(INSTALL) from e
        kwargs: dict = {"model": name, "gpu_memory_utilization": gpu_memory_utilization,
                        "enable_lora": bool(adapter)}
        if dtype:
            kwargs["dtype"] = dtype
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        engine = vllm.LLM(**kwargs)
        return cls(spec=spec, name=name, adapter=adapter, engine=engine, tokenizer=engine.get_tokenizer(),
                   info={"backend": "vllm", "model": name, "adapter": adapter, "vllm": vllm.__version__})

    def _lora(self):
        if not self.adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("adapter", 1, self.adapter)

    def render(self, prompt, *, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(as_messages(prompt), tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _sampling(self, params: SamplingParams, **extra):
        import vllm

        return vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                   max_tokens=params.max_new_tokens, seed=params.seed,
                                   stop=list(params.stop) or None, **extra)

    def generate(self, prompts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        return self.generate_raw([self.render(p) for p in prompts], params)

    def generate_raw(self, texts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        # vLLM schedules its own continuous batches; batch_size is ignored on purpose.
        params = params or SamplingParams()
        outs = self.engine.generate(list(texts), self._sampling(params), lora_request=self._lora(), use_tqdm=False)
        return [[Generation(text=o.text.strip(), prompt_tokens=len(r.prompt_token_ids or []),
                            completion_tokens=len(o.token_ids), finish_reason=o.finish_reason or "stop")
                 for o in r.outputs] for r in outs]

    def logprobs(self, contexts, continuations, *, batch_size: int = 8) -> list[list[float]]:
        tok = self.tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        prompts, spans = [], []
        for ctx, cont in zip(contexts, continuations):
            c_ids = tok(ctx, add_special_tokens=False)["input_ids"] if ctx else [start]
            r_ids = tok(cont, add_special_tokens=False)["input_ids"]
            prompts.append({"prompt_token_ids": c_ids + r_ids})
            spans.append((len(c_ids), r_ids))
        sp = self._sampling(SamplingParams(max_new_tokens=1), prompt_logprobs=0)
        outs = self.engine.generate(prompts, sp, lora_request=self._lora(), use_tqdm=False)
        result = []
        for out, (n_ctx, r_ids) in zip(outs, spans):
            plp = out.prompt_logprobs  # one entry per prompt token; None for the first
            result.append([plp[n_ctx + j][tid].logprob for j, tid in enumerate(r_ids)])
        return result

    def release(self) -> None:
        """Give the GPU back before training (vLLM otherwise keeps its KV-cache reservation)."""
        if self.engine is None:
            return
        try:
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # older/newer vLLM layouts: freeing the engine below still releases most memory
            pass
        self.engine = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
