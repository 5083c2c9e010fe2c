"""A langchain-core chat model over any ``LLM``, so LangGraph nodes can call the same models.

The ADS optimizer speaks the paper's text protocol (``<api_calls>...``), which the graph parses
into tool calls itself, so this model needs no native tool-calling.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from .base import SamplingParams

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user"}


def to_messages(messages: list[BaseMessage]) -> list[dict]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.content if isinstance(m.content, str) else str(m.content)}
            for m in messages]


class LLMChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    llm: Any
    defaults: dict = {}

    @property
    def _llm_type(self) -> str:
        return f"ads-{type(self.llm).__name__}"

    @property
    def _identifying_params(self) -> dict:
        return {"spec": self.llm.spec, **self.defaults}

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        params = {**self.defaults, **kwargs}
        if stop:
            params["stop"] = tuple(stop)
        gen = self.llm.generate([to_messages(messages)], SamplingParams(**params))[0][0]
        msg = AIMessage(
            content=gen.text,
            usage_metadata={"input_tokens": gen.prompt_tokens, "output_tokens": gen.completion_tokens,
                            "total_tokens": gen.prompt_tokens + gen.completion_tokens},
            response_metadata={"finish_reason": gen.finish_reason, "model": self.llm.spec},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def chat_model(llm, **defaults) -> LLMChatModel:
    """A langchain-core chat model over ``llm`` (any ``llms.LLM``), for LangGraph nodes; ``defaults``
    are SamplingParams fields (e.g. ``max_new_tokens=64``)."""
    return LLMChatModel(llm=llm, defaults=defaults)
