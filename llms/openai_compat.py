"""Any OpenAI-compatible endpoint (``vllm serve``, ``python cli.py models serve``, hosted APIs).

This is how generation scales past one machine: many prompts go out concurrently (bounded by
``concurrency``), each retried with backoff by the openai client.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .base import LLM, Generation, ModelError, SamplingParams, UnsupportedOperation, as_messages, import_module


@dataclass
class OpenAICompatLLM(LLM):
    model_name: str = ""
    base_url: str = ""
    concurrency: int = 8
    client: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, spec: str, model: str, base_url: str, *, concurrency: int | None = None,
             max_retries: int = 3, timeout: float = 120.0, **_) -> "OpenAICompatLLM":
        openai = import_module("openai", purpose="the openai: backend", install="pip install openai")
        client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "EMPTY"),
                               max_retries=max_retries, timeout=timeout)
        conc = concurrency or int(os.environ.get("ADS_OPENAI_CONCURRENCY", "8"))
        return cls(spec=spec, model_name=model, base_url=base_url, concurrency=conc, client=client,
                   info={"backend": "openai", "model": model, "base_url": base_url, "concurrency": conc})

    def _call(self, fn, *args, **kwargs):
        import openai

        try:
            return fn(*args, **kwargs)
        except openai.APIConnectionError as e:
            raise ModelError(f"cannot reach {self.base_url} for {self.spec}: {e}. Is the server running?") from e
        except openai.APIStatusError as e:
            raise ModelError(f"{self.base_url} answered {e.status_code} for {self.spec}: {e.message}") from e

    def _one(self, prompt, params: SamplingParams) -> list[Generation]:
        kwargs = dict(model=self.model_name, messages=as_messages(prompt), max_tokens=params.max_new_tokens,
                      temperature=params.temperature, top_p=params.top_p, n=params.n)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        resp = self._call(self.client.chat.completions.create, **kwargs)
        usage = resp.usage
        gens = []
        for choice in resp.choices:
            gens.append(Generation(text=(choice.message.content or "").strip(),
                                   prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                                   completion_tokens=(getattr(usage, "completion_tokens", 0) or 0) // max(1, len(resp.choices)),
                                   finish_reason=choice.finish_reason or "stop"))
        return gens

    def generate(self, prompts, params=None, *, batch_size: int = 8) -> list[list[Generation]]:
        params = params or SamplingParams()
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(lambda p: self._one(p, params), prompts))

    def _score_one(self, context: str, continuation: str) -> list[float]:
        """Echo the prompt with log-probs (completions API) and keep the continuation's tokens."""
        resp = self._call(self.client.completions.create, model=self.model_name, prompt=context + continuation,
                          max_tokens=1, echo=True, logprobs=0, temperature=0.0)
        lp = resp.choices[0].logprobs
        if lp is None or not getattr(lp, "token_logprobs", None) or not getattr(lp, "text_offset", None):
            raise UnsupportedOperation(
                f"{self.base_url} returned no prompt log-probs (echo=True, logprobs=0) for {self.spec}; "
                "log-prob scoring needs a server that supports echo (vllm serve does), or a local:/vllm: spec"
            )
        start = len(context)
        end = start + len(continuation)
        out = [v for off, v in zip(lp.text_offset, lp.token_logprobs) if start <= off < end]
        return [float(v) for v in out if v is not None]

    def logprobs(self, contexts, continuations, *, batch_size: int = 8) -> list[list[float]]:
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(lambda cr: self._score_one(*cr), zip(contexts, continuations)))

    def release(self) -> None:
        if self.client is not None:
            self.client.close()
