"""The interface every model backend offers, whatever runs it (transformers, vLLM, an endpoint).

A prompt is either a plain string (sent as one user message through the chat template) or a
list of chat messages ``[{"role": ..., "content": ...}]``. ``logprobs`` works on raw text so that
scorers (IFD, perplexity) decide themselves whether a chat template surrounds the context.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Sequence, Union

from records.errors import AdsError

Message = dict
Prompt = Union[str, Sequence[Message]]


class ModelError(AdsError, RuntimeError):
    """A model could not be built or used; the message says what to do about it."""


class UnsupportedOperation(ModelError):
    """The backend cannot do this (e.g. log-prob scoring on an endpoint that has no echo)."""


def import_module(name: str, *, purpose: str, install: str, error: type[Exception] = ModelError):
    """``importlib.import_module(name)``, or ``error`` with a message that says what failed.

    A package that is not installed: "<purpose> needs <package>: <install>". A package that is
    installed but raises on import (a dependency that moved, a missing submodule): the module
    and the exception it raised, with the installed version, never "install it" again.
    """
    import importlib
    from importlib import metadata

    top = name.split(".")[0]
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name in (top, name):
            raise error(f"{purpose} needs {top}, which is not installed: {install}") from e
        cause = e
    except Exception as e:  # anything else raised while the module ran its own imports
        cause = e
    try:
        version = f"{top} {metadata.version(top)} is installed"
    except metadata.PackageNotFoundError:
        version = f"{top} is installed"
    raise error(f"{purpose}: `import {name}` failed with {type(cause).__name__}: {cause} ({version}; the "
                "installed packages do not fit together: `bash scripts/setup.sh` installs the tested versions "
                "from requirements/lock.txt)") from cause


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def key(self) -> dict:
        """What a cache keys on: every field that can change the output."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


@dataclass
class LLM(abc.ABC):
    """A loaded model. Build it with ``llms.load(spec)``, never directly."""

    spec: str
    info: dict = field(default_factory=dict)

    # -- generation -------------------------------------------------------------------------
    @abc.abstractmethod
    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams | None = None, *, batch_size: int = 8
    ) -> list[list[Generation]]:
        """One list of ``params.n`` generations per prompt, in prompt order."""

    def complete(self, prompts: Sequence[Prompt], **params) -> list[str]:
        """Convenience: the first sample's text for each prompt. Keyword args go to SamplingParams."""
        batch_size = params.pop("batch_size", 8)
        out = self.generate(prompts, SamplingParams(**params), batch_size=batch_size)
        return [g[0].text for g in out]

    # -- scoring ----------------------------------------------------------------------------
    def logprobs(
        self, contexts: Sequence[str], continuations: Sequence[str], *, batch_size: int = 8
    ) -> list[list[float]]:
        """Log-prob of each token of ``continuations[i]`` given the raw text ``contexts[i]``.

        A context may be ``""`` (the continuation is then scored unconditionally, after the
        model's BOS token if it has one).
        """
        raise UnsupportedOperation(
            f"log-prob scoring is not available on backend {type(self).__name__} ({self.spec}); "
            "use a local:<model> or vllm:<model> spec for IFD/perplexity scoring"
        )

    def next_token_logprobs(self, texts: Sequence[str], candidates: Sequence[str], *,
                            batch_size: int = 8) -> list[list[float]]:
        """Log-prob that the raw text ``texts[i]`` continues with ``candidates[j]`` (the whole
        candidate string, however many tokens it takes), for every text and candidate.

        The default scores each (text, candidate) with ``logprobs``; backends that see the whole
        next-token distribution answer single-token candidates from one forward pass per text.
        """
        pairs = [(t, c) for t in texts for c in candidates]
        got = self.logprobs([t for t, _ in pairs], [c for _, c in pairs], batch_size=batch_size)
        k = len(candidates)
        return [[float(sum(lp)) for lp in got[i * k:(i + 1) * k]] for i in range(len(texts))]

    def render(self, prompt: Prompt, *, add_generation_prompt: bool = True) -> str:
        """The raw text the model sees for ``prompt`` (chat template applied)."""
        raise UnsupportedOperation(f"backend {type(self).__name__} cannot render chat templates")

    def count_tokens(self, text: str) -> int:
        """Token count of ``text``; backends without a tokenizer estimate 4 characters a token."""
        return max(1, len(text) // 4)

    def release(self) -> None:
        """Free accelerator memory (the GPU path releases vLLM before training)."""


def as_messages(prompt: Prompt) -> list[Message]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]
