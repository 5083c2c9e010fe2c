"""One SQLite store of JSON values by key, shared by every cache (tool calls, model generations,
refine rewards): a table of ``(key, label, value, created)`` in a file several processes may
share (WAL journal; a writer waits for another instead of failing). ``label`` groups entries
for ``counts`` (the tool, the model spec, the task).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's variable limit


class JsonStore:
    """``get``/``put`` one value, ``get_many``/``put_many`` in one transaction, ``counts`` by label."""

    def __init__(self, path: str | Path, table: str):
        if not table.isidentifier():
            raise ValueError(f"table name {table!r} must be an identifier")
        self.path, self.table = Path(path).expanduser(), table

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer of another process
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, label TEXT NOT NULL, "
                     "value TEXT NOT NULL, created REAL NOT NULL)")
        return conn

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        keys = list(dict.fromkeys(keys))
        if not keys or not self.path.exists():
            return {}
        found: dict[str, Any] = {}
        with self._connect() as conn:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i:i + _CHUNK]
                rows = conn.execute(f"SELECT key, value FROM {self.table} WHERE key IN ({','.join('?' * len(part))})",
                                    part).fetchall()
                found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put(self, key: str, value: Any, *, label: str = "") -> None:
        self.put_many([(key, label, value)])

    def put_many(self, entries: Iterable[tuple[str, str, Any]]) -> None:
        """Store ``(key, label, value)`` entries in one transaction (a key stored again is replaced)."""
        now = time.time()
        rows = [(k, label, json.dumps(v, ensure_ascii=False, default=str), now) for k, label, v in entries]
        if not rows:
            return
        with self._connect() as conn:
            conn.executemany(f"INSERT OR REPLACE INTO {self.table} (key, label, value, created) VALUES (?, ?, ?, ?)", rows)

    def counts(self) -> dict[str, int]:
        """Entries per label."""
        if not self.path.exists():
            return {}
        with self._connect() as conn:
            return dict(conn.execute(f"SELECT label, COUNT(*) FROM {self.table} GROUP BY label").fetchall())
