"""Where runs are checkpointed: a SQLite file (the default, one machine) or a Postgres database
(runs whose units run on several machines), behind one small interface.

``open_db(location)``: a path opens SQLite, a ``postgresql://USER:PASSWORD@HOST:PORT/DB`` URI
opens Postgres (the distributed extra: ``pip install -e '.[distributed]'``). Either gives the
LangGraph saver of its backend (``SqliteSaver``, ``PostgresSaver``) and ``execute`` for the run
registry, the ``ads_runs`` table beside the checkpoints. Many processes may open one database at
once (Ray workers checkpointing their units): Postgres creates its tables under an advisory lock,
SQLite waits up to 60 s for another writer.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from records.errors import AdsError

POSTGRES = ("postgresql://", "postgres://")
INSTALL = "pip install -e '.[distributed]' (ray, langgraph-checkpoint-postgres, psycopg)"
LOCK_KEY = 0x41445331  # pg_advisory_lock key: one process at a time creates the tables
REGISTRY = ("CREATE TABLE IF NOT EXISTS ads_runs (thread TEXT PRIMARY KEY, run_dir TEXT, context TEXT, "
            "created {real}, graph TEXT DEFAULT 'improve')")


class StoreError(AdsError, ValueError):
    """A checkpoint store that cannot be opened; the message says what to do."""


def is_postgres(location) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES)


def redact(uri: str) -> str:
    """The URI with its password hidden, for messages and listings."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", uri)


def open_db(location):
    return PostgresDB(location) if is_postgres(location) else SqliteDB(Path(location).expanduser())


class SqliteDB:
    def __init__(self, path: Path):
        self.location = self.where = path  # what open_db opens again; what messages name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
        self.execute(REGISTRY.format(real="REAL"))
        columns = {row[1] for row in self.execute("PRAGMA table_info(ads_runs)")}
        if "graph" not in columns:  # a file from before graphs were named: every run in it is improve
            self.execute("ALTER TABLE ads_runs ADD COLUMN graph TEXT DEFAULT 'improve'")

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn:  # commits a write
            return self.conn.execute(sql, params).fetchall()

    def saver(self):
        from langgraph.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(self.conn)

    def close(self) -> None:
        self.conn.close()


class PostgresDB:
    def __init__(self, uri: str):
        from llms.base import import_module

        self.psycopg = import_module("psycopg", purpose="checkpoints in Postgres", install=INSTALL, error=StoreError)
        self.uri = self.location = uri
        self.where = redact(uri)
        self.conn = self._connect()
        self._saver_conn = None
        with self._locked():
            self.execute(REGISTRY.format(real="DOUBLE PRECISION"))

    def _connect(self, **kw):
        try:
            return self.psycopg.connect(self.uri, autocommit=True, **kw)
        except self.psycopg.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(f"cannot open the checkpoint database {self.where}: {first}. Check the URI "
                             "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE), that the server runs and that this "
                             "machine reaches it; leave --db / checkpoint_uri unset for SQLite") from None

    def _locked(self):
        conn = self.conn

        class Lock:
            def __enter__(self):
                conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))

            def __exit__(self, *exc):
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

        return Lock()

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        cur = self.conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []

    def saver(self):
        from llms.base import import_module

        module = import_module("langgraph.checkpoint.postgres", purpose="checkpoints in Postgres", install=INSTALL,
                               error=StoreError)
        rows = import_module("psycopg.rows", purpose="checkpoints in Postgres", install=INSTALL, error=StoreError)
        # what PostgresSaver expects of a connection it is handed (its own from_conn_string does the same)
        self._saver_conn = self._connect(prepare_threshold=0, row_factory=rows.dict_row)
        saver = module.PostgresSaver(self._saver_conn)
        with self._locked():
            saver.setup()
        return saver

    def close(self) -> None:
        for conn in (self.conn, self._saver_conn):
            if conn is not None:
                conn.close()
