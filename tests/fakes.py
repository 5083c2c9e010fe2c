"""A scripted model for tests: it answers from a queue (or a function) and records every prompt.

Registered as the ``fake`` backend, so code under test builds it through ``llms.load("fake:NAME")``
exactly as it would build a real model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from llms.base import LLM, Generation, SamplingParams, as_messages


@dataclass
class ScriptedLLM(LLM):
    replies: deque = field(default_factory=deque)
    respond: Callable[[list[dict]], str] | None = None  # used when the queue is empty
    history: list = field(default_factory=list)  # every prompt seen, as messages
    logprob_fn: Callable[[str, str], list[float]] | None = None

    def script(self, *replies: str) -> "ScriptedLLM":
        self.replies.extend(replies)
        return self

    def generate(self, prompts, params=None, *, batch_size: int = 8):
        params = params or SamplingParams()
        out = []
        for p in prompts:
            msgs = as_messages(p)
            self.history.append(msgs)
            samples = []
            for _ in range(params.n):
                if self.replies:
                    text = self.replies.popleft()
                elif self.respond is not None:
                    text = self.respond(msgs)
                else:
                    raise AssertionError(f"ScriptedLLM {self.spec}: no scripted reply left for {msgs[-1]['content'][:80]!r}")
                samples.append(Generation(text=text, prompt_tokens=sum(len(m["content"]) // 4 for m in msgs),
                                          completion_tokens=max(1, len(text) // 4)))
            out.append(samples)
        return out

    def logprobs(self, contexts, continuations, *, batch_size: int = 8):
        if self.logprob_fn is None:
            return super().logprobs(contexts, continuations)
        return [self.logprob_fn(c, r) for c, r in zip(contexts, continuations)]

    def render(self, prompt, *, add_generation_prompt: bool = True) -> str:
        text = "".join(f"<{m['role']}>{m['content']}\n" for m in as_messages(prompt))
        return text + ("<assistant>" if add_generation_prompt else "")

    @property
    def calls(self) -> int:
        return len(self.history)
