"""Every model the project uses is built here: ``llms.load(spec)``."""

from .base import LLM, Generation, ModelError, Prompt, SamplingParams, UnsupportedOperation, as_messages
from .factory import ModelSpec, load, parse_spec, register_backend, unload
from .registry import DEFAULT_EMBEDDER, DEFAULT_POLICY, ads_home, list_models, prepare

__all__ = [
    "LLM", "Generation", "ModelError", "Prompt", "SamplingParams", "UnsupportedOperation", "as_messages",
    "ModelSpec", "load", "parse_spec", "register_backend", "unload",
    "DEFAULT_EMBEDDER", "DEFAULT_POLICY", "ads_home", "list_models", "prepare",
]
