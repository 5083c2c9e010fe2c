"""`improve` runs the improve graph on a task file; `inspect` shows a checkpointed run.

Runs checkpoint to SQLite ($ADS_HOME/checkpoints.sqlite) under a thread id, so a crashed or
quit run continues with ``--resume THREAD`` without paying for finished tool calls again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

import click

from graph.context import Context


def checkpoint_db(path: str | None = None) -> Path:
    from llms.registry import ads_home

    p = Path(path) if path else ads_home() / "checkpoints.sqlite"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def open_runs(path: Path):
    """(compiled graph with a SQLite checkpointer, connection). The same file keeps each thread's Context."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.improve import builder

    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS ads_runs (thread TEXT PRIMARY KEY, run_dir TEXT, context TEXT, created REAL)")
    conn.commit()
    return builder.compile(checkpointer=SqliteSaver(conn)), conn


def saved_context(conn, thread: str) -> Context:
    row = conn.execute("SELECT context FROM ads_runs WHERE thread = ?", (thread,)).fetchone()
    if row is None:
        known = [r[0] for r in conn.execute("SELECT thread FROM ads_runs ORDER BY created DESC LIMIT 5")]
        raise click.ClickException(f"no run with thread '{thread}' in this checkpoint file; recent threads: {', '.join(known) or 'none'}")
    return Context(**json.loads(row[0]))


class Progress:
    """One line per finished node, from the graph's update stream: stage, calls done, cost so far."""

    def __init__(self):
        self.t0, self.planned, self.done, self.cost = time.perf_counter(), 0, 0, 0.0

    def __call__(self, node: str, update: dict) -> None:
        update = update or {}
        detail = ""
        if node == "analyse":
            r = update["optimizer_replies"][-1]
            detail = f"optimizer attempt {r['attempt'] + 1} ({r['seconds']:.1f}s)"
        elif node == "parse":
            log = update["parse_log"][-1]
            if log["retry"]:
                detail = f"unparsable, retrying: {'; '.join(log['errors'])[:100]}"
            else:
                self.planned = len(update.get("calls") or [])
                detail = f"{self.planned} call(s) planned, {len(update.get('dropped') or [])} dropped"
                detail += f" ({log['gave_up']})" if log.get("gave_up") else ""
        elif node == "tools":
            for r in update.get("results") or []:
                self.done += 1
                self.cost += float(r.get("cost") or 0)
                note = r["status"] + (" cached" if r.get("cached") else "") + (f": {r['error']}" if r.get("error") else "")
                detail += f"{r['tool']}({r['arg']!r}) -> {len(r.get('rows') or [])} rows, {note}  "
        elif node == "curate":
            detail = f"{len(update.get('dataset') or [])} rows kept"
        elif node == "update":
            u = update.get("updated") or {}
            detail = f"{u.get('kind')}: {u.get('rows_used', 0)} rows" + (f", {u.get('tokens')} tokens" if "tokens" in u else "")
        elif node == "evaluate":
            s = update["evaluation"]["summary"]
            detail = f"win {s['win']} tie {s['tie']} lose {s['lose']} no_verdict {s['no_verdict']} ({update['evaluation']['judge']})"
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {node:<8} calls {self.done}/{self.planned} "
                   f"cost {self.cost:g}  {detail}".rstrip(), err=True)


def ask(payload: dict):
    """The user's decision on a pending tool call, as a resume value (None: leave the run paused)."""
    p = payload["pending"]
    click.echo(f"\nnext call {payload['call']}: {p['name']}({p['arg']!r})  cost {p['cost']:g}  "
               f"(spent so far {payload['cost_so_far']:g})", err=True)
    for r in payload.get("remaining") or []:
        click.echo(f"   then {r}", err=True)
    choice = click.prompt("[a]pprove  [e]dit argument  [s]kip  [f]inish without the rest  [q]uit (resume later)",
                          type=click.Choice(list("aesfq")), default="a", err=True)
    if choice == "e":
        return {"action": "edit", "arg": click.prompt("new argument", default=p["arg"], err=True)}
    return {"a": "approve", "s": "skip", "f": "quit", "q": None}[choice]


def drive(app, first, config: dict, ctx: Context) -> dict | None:
    """Stream the graph to the end, answering interrupts; None when the user left it paused."""
    from langgraph.types import Command

    progress = Progress()
    progress.done = len((app.get_state(config).values or {}).get("results") or [])
    progress.planned = len((app.get_state(config).values or {}).get("calls") or [])
    progress.cost = sum(float(r.get("cost") or 0) for r in (app.get_state(config).values or {}).get("results") or [])
    value = first
    while True:
        pending = None
        for chunk in app.stream(value, config, context=ctx, stream_mode="updates", durability="sync"):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    pending = update[0].value
                else:
                    progress(node, update)
        if pending is None:
            return app.get_state(config).values.get("report")
        answer = ask(pending)
        if answer is None:
            return None
        value = Command(resume=answer)


def _ctx_from_options(o: dict, task: dict) -> Context:
    ctx = Context()
    for key in ("policy", "optimizer", "teacher", "judge", "update", "max_calls", "max_cost", "seed"):
        if o.get(key) is not None:
            setattr(ctx, key, o[key])
    ctx.step = o["step"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ctx.run_dir = str((Path(o["out"]) if o.get("out") else Path("runs") / f"{task['task']}-{stamp}").resolve())
    return ctx


@click.command()
@click.option("--task", "task_path", type=click.Path(dir_okay=False), envvar="ADS_TASK", help="Task file (YAML/JSON); default tasks/planets.yaml.")
@click.option("--observed", type=int, help="Observed instructions to keep (a plain-list task is split by seed).")
@click.option("--update", type=click.Choice(["icl", "sft"]), envvar="ADS_UPDATE", help="icl (default) or sft (LoRA).")
@click.option("--max-calls", type=int, envvar="ADS_MAX_CALLS", help="Most API calls (default 6).")
@click.option("--max-cost", type=float, envvar="ADS_MAX_COST", help="Most total API cost (default 12).")
@click.option("--policy", envvar="ADS_POLICY", help="Policy model spec.")
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="Optimizer model spec.")
@click.option("--teacher", envvar="ADS_TEACHER", help="Teacher model spec for question_answering.")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge model spec.")
@click.option("--seed", type=int, help="Seed for sampling and splits.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<task>-<time>).")
@click.option("--step", is_flag=True, help="Pause before every tool call: approve, edit, skip or quit.")
@click.option("--resume", metavar="THREAD", help="Continue a crashed or quit run.")
@click.option("--thread", metavar="THREAD", help="Thread id of a new run (default: the run directory's name).")
@click.option("--db", envvar="ADS_CHECKPOINTS", help="SQLite checkpoint file (default $ADS_HOME/checkpoints.sqlite).")
def improve(task_path, observed, resume, thread, db, **o):
    """Run Active Data Search on a task: plan API calls, gather and curate data, update and measure the policy."""
    from graph.tasks import TaskError, load_task

    app, conn = open_runs(checkpoint_db(db))
    if resume:
        ctx = saved_context(conn, resume)
        ctx.step = ctx.step or o["step"]
        config = {"configurable": {"thread_id": resume}, "recursion_limit": 200}
        snap = app.get_state(config)
        if not snap.next:
            report = snap.values.get("report")
            click.echo(f"thread {resume} already finished", err=True)
        else:
            interrupts = [i for t in snap.tasks for i in t.interrupts]
            from langgraph.types import Command

            if interrupts:
                answer = ask(interrupts[0].value)
                report = None if answer is None else drive(app, Command(resume=answer), config, ctx)
            else:
                report = drive(app, None, config, ctx)
        thread = resume
    else:
        try:
            task = load_task(task_path, observed=observed, seed=o.get("seed") or 0)
        except TaskError as e:
            raise click.ClickException(str(e)) from None
        ctx = _ctx_from_options(o, task)
        thread = thread or Path(ctx.run_dir).name
        if conn.execute("SELECT 1 FROM ads_runs WHERE thread = ?", (thread,)).fetchone():
            raise click.ClickException(f"thread '{thread}' exists; continue it with --resume {thread} or pick another --thread")
        conn.execute("INSERT INTO ads_runs VALUES (?, ?, ?, ?)", (thread, ctx.run_dir, json.dumps(asdict(ctx)), time.time()))
        conn.commit()
        click.echo(f"thread {thread}: {len(task['observed'])} observed, {len(task['held_out'])} held-out -> {ctx.run_dir}", err=True)
        config = {"configurable": {"thread_id": thread}, "recursion_limit": 200}
        report = drive(app, task, config, ctx)
    if report is None:
        click.echo(f"paused. Continue with: python cli.py improve --resume {thread}", err=True)
        return
    h = report["held_out"]
    click.echo(json.dumps({"run_dir": report["run_dir"], "cost_total": report["cost_total"], "dataset_size": report["dataset_size"],
                           "held_out": h, "accuracy": report.get("accuracy")}, indent=2))


@click.command(name="inspect")
@click.argument("thread")
@click.option("--db", envvar="ADS_CHECKPOINTS", help="SQLite checkpoint file (default $ADS_HOME/checkpoints.sqlite).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole state as JSON.")
def inspect_run(thread, db, as_json):
    """Show a run's steps, API calls, costs and state."""
    from graph.report import api_calls

    path = checkpoint_db(db)
    if not path.exists():
        raise click.ClickException(f"{path} does not exist: no run has been checkpointed there yet")
    app, conn = open_runs(path)
    ctx = saved_context(conn, thread)
    config = {"configurable": {"thread_id": thread}}
    history = list(app.get_state_history(config))[::-1]
    snap = app.get_state(config)
    values = snap.values or {}
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str, ensure_ascii=False))
        return
    click.echo(f"thread {thread}  run_dir {ctx.run_dir}  update {ctx.update}  policy {ctx.policy}")
    click.echo(f"status: {'finished' if not snap.next else 'paused/stopped before ' + ', '.join(snap.next)}")
    click.echo("\nsteps:")
    for s in history:
        ran = ", ".join(t.name for t in s.tasks) or "-"
        click.echo(f"  {s.metadata.get('step', '?'):>3}  {s.created_at}  next: {ran}")
    calls = api_calls(values)
    click.echo(f"\nAPI calls ({len(calls)} of {len(values.get('calls') or [])} planned, cost {sum(c['cost'] for c in calls):g}):")
    for c in calls:
        click.echo(f"  {c['name']}({c['argument']!r}) cost {c['cost']:g} {c['status']}{' cached' if c['cached'] else ''}"
                   f" rows {c['rows']}" + (f" error: {c['error']}" if c.get("error") else ""))
    for d in values.get("dropped") or []:
        if "row" not in d:
            click.echo(f"  dropped {d.get('name', '')}({d.get('arg', '')!r}): {d['reason']}")
    click.echo("\nstate:")
    for key, value in values.items():
        size = f"{len(value)} items" if isinstance(value, (list, dict)) else repr(value)[:80]
        click.echo(f"  {key}: {size}")
    if values.get("report"):
        click.echo("\nheld-out: " + json.dumps(values["report"]["held_out"]))
