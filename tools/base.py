"""What every tool call returns, and how a tool reports a failure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from records.errors import AdsError


@dataclass
class ToolResult:
    """One API call as the graph records it. ``error`` set means no usable rows came back."""

    tool: str
    arg: str
    cost: float = 0.0
    latency_s: float = 0.0
    tokens: int = 0
    cached: bool = False
    error: str | None = None
    rows: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ToolOutput:
    """What a tool's ``run`` hands back to ``call_tool`` (which adds cost, latency, cache state)."""

    rows: list[dict]
    provenance: dict
    tokens: int = 0


class ToolError(AdsError, RuntimeError):
    """A call that produced nothing usable; ``provenance`` keeps what it did produce (raw text ...)."""

    def __init__(self, message: str, *, provenance: dict | None = None, tokens: int = 0):
        super().__init__(message)
        self.provenance = provenance or {}
        self.tokens = tokens


class CorpusError(AdsError, RuntimeError):
    """A corpus is missing, unbuilt or unreadable; the message says which command fixes it."""


def load_model(ctx, spec: str):
    """The model ``spec`` as a run uses it: its dtype, behind the generation cache (the file beside
    the tool cache) unless ``ctx.generation_cache`` is off. Seeded samples a tool drew once are
    read back on a re-run, so even a call that failed (no parsable output) costs nothing again."""
    from llms.gencache import load_cached

    path = Path(ctx.cache_path).expanduser().with_name("generation_cache.sqlite")
    return load_cached(spec, dtype=ctx.dtype, path=path, enabled=getattr(ctx, "generation_cache", True))
