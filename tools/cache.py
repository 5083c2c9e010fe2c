"""A persistent cache of tool calls (SQLite), so the same call is never paid twice.

The key covers everything that can change a call's output: the tool, its normalized argument,
the model spec, the sampling parameters, the seed, the prompt and the corpus version. A different
temperature or seed is a different entry. Only successful calls are stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from records.store import JsonStore


def normalize_arg(arg: str) -> str:
    """Whitespace and case do not make a different call."""
    return " ".join(arg.split()).casefold()


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ToolCache:
    """Tool calls by the hash of their parts (the table ``tool_calls`` of a ``records.store.JsonStore``)."""

    def __init__(self, path: str | Path):
        self.store = JsonStore(path, "tool_calls")
        self.path = self.store.path

    def get(self, parts: dict) -> dict | None:
        return self.store.get(cache_key(parts))

    def put(self, parts: dict, payload: dict) -> None:
        self.store.put(cache_key(parts), {**payload, "parts": parts}, label=parts["tool"])

    def stats(self) -> dict:
        by_tool = self.store.counts()
        return {"path": str(self.path), "entries": sum(by_tool.values()), "by_tool": by_tool}
