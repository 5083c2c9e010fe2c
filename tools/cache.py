"""A persistent cache of tool calls (SQLite), so the same call is never paid twice.

The key covers everything that can change a call's output: the tool, its normalized argument,
the model spec, the sampling parameters, the seed, the prompt and the corpus version. A different
temperature or seed is a different entry. Only successful calls are stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS tool_calls (
    key TEXT PRIMARY KEY, tool TEXT NOT NULL, arg TEXT NOT NULL, parts TEXT NOT NULL,
    payload TEXT NOT NULL, created REAL NOT NULL)"""


def normalize_arg(arg: str) -> str:
    """Whitespace and case do not make a different call."""
    return " ".join(arg.split()).casefold()


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ToolCache:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # several processes (tests, CLI, graph) may share it
        conn.execute(SCHEMA)
        return conn

    def get(self, parts: dict) -> dict | None:
        with self._connect() as conn:
            row = conn.execute("SELECT payload FROM tool_calls WHERE key = ?", (cache_key(parts),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, parts: dict, payload: dict) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tool_calls (key, tool, arg, parts, payload, created) VALUES (?, ?, ?, ?, ?, ?)",
                (cache_key(parts), parts["tool"], parts["arg"], json.dumps(parts, sort_keys=True),
                 json.dumps(payload, ensure_ascii=False), time.time()),
            )

    def stats(self) -> dict:
        if not self.path.exists():
            return {"path": str(self.path), "entries": 0, "by_tool": {}}
        with self._connect() as conn:
            by_tool = dict(conn.execute("SELECT tool, COUNT(*) FROM tool_calls GROUP BY tool").fetchall())
        return {"path": str(self.path), "entries": sum(by_tool.values()), "by_tool": by_tool}
