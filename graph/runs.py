"""Start, resume, inspect, list and drive runs of any graph, on any checkpointer.

A ``RunStore`` is a checkpoint store plus a table of the runs started in it: thread id, graph,
run directory, the run's Context (so a resume uses exactly the settings the run started with) and
when it started. The store is a SQLite file (``$ADS_HOME/checkpoints.sqlite`` by default) or a
Postgres database (a ``postgresql://`` URI: runs that span machines; graph/stores.py); any other
LangGraph saver can be handed in for the checkpoints. Every thread id is new:
``<run directory name>-<6 hex>`` unless the caller names one, and a name in use is refused, so a
new run never lands on an unrelated old one.

``UnitRuns(ctx, kind)`` holds the child runs of one run (evaluate's cells, refine's trajectories):
``<run_dir>/<kind>.sqlite`` (with executor=ray one file per unit in ``<run_dir>/checkpoints/<kind>/``: SQLite
takes one writer at a time), or ``ctx.checkpoint_uri``'s database with threads named
``<run_dir>|<kind>|<key>`` so that runs sharing it never meet.

``drive(app, first, config, ctx, on_update=..., on_interrupt=...)`` streams a compiled graph to
its end, calling ``on_update(node, update)`` after every node and ``on_interrupt(payload)`` at
every ``interrupt()``: its return value resumes the run, ``None`` leaves it paused. The CLI, a
notebook, ``bench/`` and every graph's command drive runs through here.

Each graph module names itself in ``GRAPHS`` and exports ``builder`` and ``recursion_limit(ctx,
inputs)`` (the most steps a run with that Context and input can take), so no caller writes a
literal limit.
"""

from __future__ import annotations

import importlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from graph.context import Context
from records.errors import AdsError

# graph name -> module exporting ``builder`` and ``recursion_limit(ctx, inputs)``
GRAPHS = {"improve": "graph.improve.graph", "evaluate": "graph.evaluate.graph", "star-agents": "graph.star_agents.graph",
          "self-improve": "graph.self_improve.graph", "refine": "graph.refine.graph"}

# The keys of a loaded task (graph.tasks.load) an improve run takes as input: evaluate's cells and
# refine's trajectories pass the same, so each is the improve run a user gets on that task.
TASK_INPUTS = ("task", "observed", "held_out", "description", "category", "checks", "observed_checks")

OnUpdate = Callable[[str, dict], None]
OnInterrupt = Callable[[Any], Any]


def saved_context(values: dict) -> Context:
    """The Context a run was started with; fields a later version no longer has are left out."""
    known = Context.describe()
    return Context(**{k: v for k, v in values.items() if k in known})


class RunError(AdsError, ValueError):
    """A run cannot be started or found; the message says what to do."""


def graph_module(name: str):
    if name not in GRAPHS:
        raise RunError(f"unknown graph {name!r}: one of {', '.join(GRAPHS)}")
    return importlib.import_module(GRAPHS[name])


def config_for(graph: str, thread: str, ctx: Context, inputs: dict | None = None) -> dict:
    return {"configurable": {"thread_id": thread}, "recursion_limit": graph_module(graph).recursion_limit(ctx, inputs)}


def drive(app, first, config: dict, ctx: Context, *, on_update: OnUpdate | None = None,
          on_interrupt: OnInterrupt | None = None) -> dict | None:
    """Stream ``app`` from ``first`` (the input, None to continue, or a ``Command``) to its end,
    answering interrupts with ``on_interrupt``; the final state values, or None when left paused."""
    from langgraph.types import Command

    value = first
    while True:
        pending = None
        for chunk in app.stream(value, config, context=ctx, stream_mode="updates", durability="sync"):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    pending = update[0].value
                elif on_update is not None:
                    on_update(node, update or {})
        if pending is None:
            return app.get_state(config).values
        answer = on_interrupt(pending) if on_interrupt is not None else None
        if answer is None:
            return None
        value = Command(resume=answer)


@dataclass
class RunInfo:
    thread: str
    graph: str
    run_dir: str
    created: float
    context: Context


class RunStore:
    """Runs checkpointed in one SQLite file or Postgres database (``path``: a file or a URI), or in
    ``saver`` (any LangGraph checkpointer) with the run table in ``path``."""

    def __init__(self, path: str | Path | None = None, *, saver=None):
        from graph.stores import open_db
        from llms.registry import ads_home

        self.db = open_db(path if path else ads_home() / "checkpoints.sqlite")
        self.path = self.db.where
        self._saver = saver

    @property
    def saver(self):
        if self._saver is None:
            self._saver = self.db.saver()
        return self._saver

    def app(self, graph: str):
        """The graph compiled with this store's checkpointer."""
        return graph_module(graph).builder.compile(checkpointer=self.saver)

    # ---- runs -------------------------------------------------------------------------------
    def new_thread(self, graph: str, ctx: Context, thread: str | None = None) -> str:
        """Register a new run of ``graph`` and return its thread id."""
        graph_module(graph)
        if thread is None:
            while True:
                thread = f"{Path(ctx.run_dir).name or graph}-{secrets.token_hex(3)}"
                if not self._row(thread):
                    break
        elif self._row(thread):
            raise RunError(f"thread '{thread}' exists; continue it with --resume {thread}, or leave --thread out "
                           "for a new id")
        self.db.execute("INSERT INTO ads_runs (thread, run_dir, context, created, graph) VALUES (?, ?, ?, ?, ?)",
                        (thread, ctx.run_dir, json.dumps(ctx.to_dict()), time.time(), graph))
        return thread

    def _row(self, thread: str):
        rows = self.db.execute("SELECT thread, graph, run_dir, created, context FROM ads_runs WHERE thread = ?", (thread,))
        return rows[0] if rows else None

    def has(self, thread: str) -> bool:
        """Whether a run with this thread was started in this store."""
        return self._row(thread) is not None

    def finish(self, graph: str, thread: str, inputs: dict, ctx: Context) -> dict:
        """The final values of the child run ``thread``: resumed where it stopped when it was
        started before (a finished one returns at once), else started with ``inputs``."""
        return self.resume(thread) if self.has(thread) else self.start(graph, inputs, ctx, thread=thread)[1]

    def info(self, thread: str) -> RunInfo:
        row = self._row(thread)
        if row is None:
            recent = [r.thread for r in self.list(5)]
            raise RunError(f"no run with thread '{thread}' in {self.path}; recent threads: {', '.join(recent) or 'none'}"
                           " (python cli.py runs list)")
        return RunInfo(thread=row[0], graph=row[1] or "improve", run_dir=row[2], created=row[3],
                       context=saved_context(json.loads(row[4])))

    def list(self, limit: int = 20) -> list[RunInfo]:
        rows = self.db.execute("SELECT thread FROM ads_runs ORDER BY created DESC LIMIT ?", (limit,))
        return [self.info(r[0]) for r in rows]

    def config(self, thread: str) -> dict:
        info = self.info(thread)
        config = config_for(info.graph, thread, info.context)
        values = self.app(info.graph).get_state(config).values  # the run's own input sets its limit
        return config_for(info.graph, thread, info.context, values)

    def snapshot(self, thread: str):
        info = self.info(thread)
        return self.app(info.graph).get_state(config_for(info.graph, thread, info.context))

    def status(self, thread: str) -> str:
        snap = self.snapshot(thread)
        if not snap.next:
            return "finished" if snap.values else "not started"
        if any(t.interrupts for t in snap.tasks):
            return "paused at an interrupt before " + ", ".join(snap.next)
        return "stopped before " + ", ".join(snap.next)

    def history(self, thread: str) -> list:
        info = self.info(thread)
        return list(self.app(info.graph).get_state_history(self.config(thread)))[::-1]

    # ---- driving ----------------------------------------------------------------------------
    def start(self, graph: str, inputs: dict, ctx: Context, *, thread: str | None = None,
              on_update: OnUpdate | None = None, on_interrupt: OnInterrupt | None = None) -> tuple[str, dict | None]:
        """Start a new run; (thread id, final values or None when left paused)."""
        thread = self.new_thread(graph, ctx, thread)
        values = drive(self.app(graph), inputs, config_for(graph, thread, ctx, inputs), ctx,
                       on_update=on_update, on_interrupt=on_interrupt)
        return thread, values

    def resume(self, thread: str, *, on_update: OnUpdate | None = None, on_interrupt: OnInterrupt | None = None,
               context: Context | None = None) -> dict | None:
        """Continue a paused, quit or crashed run from its last checkpoint; finished nodes never run again.
        A finished run returns its values as they are."""
        from langgraph.types import Command

        info = self.info(thread)
        ctx = context or info.context
        app = self.app(info.graph)
        snap = app.get_state(config_for(info.graph, thread, ctx))
        config = config_for(info.graph, thread, ctx, snap.values)
        if not snap.next:
            return snap.values
        pending = [i.value for t in snap.tasks for i in t.interrupts]
        first = None
        if pending:
            answer = on_interrupt(pending[0]) if on_interrupt is not None else None
            if answer is None:
                return None
            first = Command(resume=answer)
        return drive(app, first, config, ctx, on_update=on_update, on_interrupt=on_interrupt)

    def close(self) -> None:
        self.db.close()


class UnitRuns:
    """The checkpointed child runs of kind ``kind`` of the run ``ctx.run_dir``: each unit is its own
    thread, so a killed unit resumes where it stopped and a finished one is never run again."""

    def __init__(self, ctx: Context, kind: str):
        self.run_dir, self.kind = Path(ctx.run_dir), kind
        self.shared = ctx.checkpoint_uri
        self.own_files = not ctx.checkpoint_uri and ctx.executor == "ray"
        self.prefix = f"{ctx.run_dir}|{kind}|" if ctx.checkpoint_uri else ""

    def thread(self, key: str) -> str:
        return self.prefix + key

    def location(self, key: str):
        """Postgres; else one SQLite file for every unit, or under Ray one per unit (<run_dir>/checkpoints/<kind>/),
        so that worker processes never write one SQLite file at once."""
        if self.shared:
            return self.shared
        if self.own_files:
            import hashlib
            import re

            name = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:60] + "-" + hashlib.sha1(key.encode()).hexdigest()[:8]
            return self.run_dir / "checkpoints" / self.kind / f"{name}.sqlite"
        return self.run_dir / f"{self.kind}.sqlite"

    def finish(self, graph: str, key: str, inputs: dict, ctx: Context) -> dict:
        """``RunStore.finish`` of the unit ``key``: its final values, run or resumed as needed."""
        store = RunStore(self.location(key))
        try:
            return store.finish(graph, self.thread(key), inputs, ctx)
        finally:
            store.close()
