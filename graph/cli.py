"""`improve` runs the improve graph on a task file; `inspect` and `runs` show checkpointed runs.

Runs checkpoint to SQLite ($ADS_HOME/checkpoints.sqlite) through ``graph.runs.RunStore``, so a
crashed or quit run continues with ``--resume THREAD`` without paying for finished calls again.
Every Context field is settable: named options for the common ones, ``--set field=value`` and
``--config run.yaml`` for all (``--settings`` lists them).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import click

from graph.context import ConfigError, Context
from graph.improve.state import cost_of

# ---- settings shared by every graph command ------------------------------------------------

def settings_options(f):
    """--config FILE, --set KEY=VALUE (repeatable), --no-cache, --settings, --db."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ADS_CONFIG",
                     help="YAML/JSON file of Context settings (python cli.py settings lists them)."),
        click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
                     help="Set any Context field, e.g. --set judge_mode=verify --set curation=dedupe,ifd (repeatable)."),
        click.option("--no-cache", is_flag=True, default=None,
                     help="Run every tool call and model generation anew (tool_cache and generation_cache off; nothing is stored)."),
        click.option("--db", envvar="ADS_CHECKPOINTS", help="SQLite checkpoint file (default $ADS_HOME/checkpoints.sqlite)."),
    ]
    return functools.reduce(lambda acc, option: option(acc), reversed(options), f)


def build_context(config_file: str | None, sets: tuple[str, ...], named: dict, *, no_cache: bool | None = None) -> Context:
    """Context from, in order of precedence: --set, named options (and their env vars), --config, defaults."""
    values: dict = {}
    if config_file:
        from records import RecordError, read_document

        try:
            loaded = read_document(config_file)
        except RecordError as e:
            raise click.ClickException(str(e)) from None
        if not isinstance(loaded, dict):
            raise click.ClickException(f"{config_file}: expected a mapping of Context fields to values")
        values.update(loaded)
    values.update({k: v for k, v in named.items() if v is not None})
    if no_cache:
        values["tool_cache"] = values["generation_cache"] = False
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise click.ClickException(f"--set {item!r}: write --set FIELD=VALUE, e.g. --set judge_mode=verify")
        values[key.strip()] = value
    try:
        return Context.build(values)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def open_store(db: str | None):
    from graph.runs import RunStore

    return RunStore(db)


def run_graph(graph: str, db: str | None, *, resume: str | None, start, progress, thread: str | None = None,
              on_interrupt=None, context=None) -> tuple[str, dict | None]:
    """Start a new run of ``graph`` or resume one, the way every graph command does.

    ``start()`` (called only for a new run) returns (inputs, ctx, what to say about the run);
    ``progress(values)`` builds the update callback from the run's state so far (its inputs when new).
    Returns (thread, final values or None when left paused); a RunError becomes a ClickException.
    """
    from graph.runs import RunError, config_for, drive

    store = open_store(db)
    try:
        if resume:
            values = store.resume(resume, on_update=progress(store.snapshot(resume).values or {}),
                                  on_interrupt=on_interrupt, context=context(store.info(resume).context) if context else None)
            return resume, values
        inputs, ctx, about = start()
        thread = store.new_thread(graph, ctx, thread)
        click.echo(f"thread {thread}: {about} -> {ctx.run_dir}", err=True)
        values = drive(store.app(graph), inputs, config_for(graph, thread, ctx, inputs), ctx,
                       on_update=progress(inputs), on_interrupt=on_interrupt)
        return thread, values
    except RunError as e:
        raise click.ClickException(str(e)) from None


def run_dir(out: str | None, name: str) -> str:
    """The run folder: --out, else runs/<name>-<time>."""
    return str((Path(out) if out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve())


# ---- live progress and step mode -------------------------------------------------------------

class Progress:
    """One line per finished node, from the graph's update stream: stage, calls done, cost so far."""

    def __init__(self, values: dict | None = None):
        values = values or {}
        self.t0 = time.perf_counter()
        self.planned = len(values.get("calls") or [])
        self.done = len(values.get("results") or [])
        self.cost = cost_of(values.get("results"))

    def __call__(self, node: str, update: dict) -> None:
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
                self.cost += cost_of([r])
                note = r["status"] + (" cached" if r.get("cached") else "") + (f": {r['error']}" if r.get("error") else "")
                detail += f"{r['tool']}({r['arg']!r}) -> {len(r.get('rows') or [])} rows, {note}  "
        elif node == "curate":
            detail = f"{len(update.get('dataset') or [])} rows kept; " + ", ".join(
                f"{c['step']} -{c['dropped']}" for c in update.get("curation") or [] if c["dropped"])
        elif node == "update":
            u = update.get("updated") or {}
            detail = f"{u.get('kind')}: {u.get('rows_used', 0)} rows" + (f", {u.get('tokens')} tokens" if "tokens" in u else "")
        elif node == "competence":
            detail = "the policy's answers to the observed instructions, for this round's optimizer"
        elif node == "round":
            r = update["rounds"][-1]
            detail = (f"round {r['round'] + 1}: {r['metric']} on validation {r['validation_score']:.3f} ({r['gain']:+.3f}), "
                      f"cost {r['cost']:g}" + (f"; stop: {r['stop']}" if r.get("stop") else "; next round"))
        elif node == "evaluate":
            if "summary" not in update["evaluation"]:
                click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] evaluate  skipped (measure=false)", err=True)
                return
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


# ---- commands --------------------------------------------------------------------------------

@click.command()
@click.option("--task", "task_path", type=click.Path(dir_okay=False), envvar="ADS_TASK", help="Task file (YAML/JSON); default tasks/planets.yaml.")
@click.option("--observed", type=int, help="Observed instructions to keep (a plain-list task is split by seed).")
@click.option("--update", type=click.Choice(["icl", "icl-knn", "sft"]), envvar="ADS_UPDATE",
              help="icl (default), icl-knn (per question, the most similar rows) or sft (LoRA).")
@click.option("--max-calls", type=int, envvar="ADS_MAX_CALLS", help="Most API calls (default 6).")
@click.option("--max-cost", type=float, envvar="ADS_MAX_COST", help="Most total API cost (default 12; per round with --rounds).")
@click.option("--rounds", type=int, help="Self-improvement rounds (default 1); a round without validation gain ends the run.")
@click.option("--policy", envvar="ADS_POLICY", help="Policy model spec.")
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="Optimizer model spec.")
@click.option("--teacher", envvar="ADS_TEACHER", help="Teacher model spec for question_answering.")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge model spec.")
@click.option("--seed", type=int, help="Seed for sampling and splits.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<task>-<time>).")
@click.option("--step", is_flag=True, default=None, help="Pause before every tool call: approve, edit, skip or quit.")
@click.option("--resume", metavar="THREAD", help="Continue a crashed or quit run (its settings are the ones it started with).")
@click.option("--thread", metavar="THREAD", help="Thread id of a new run (default: <run directory name>-<6 hex>).")
@settings_options
def improve(task_path, observed, resume, thread, db, config_file, sets, no_cache, out, **named):
    """Run Active Data Search on a task: plan API calls, gather and curate data, update and measure the policy."""
    from graph.tasks.load import TaskError, load_task

    def start():
        try:
            task = load_task(task_path, observed=observed, seed=named.get("seed") or 0)
        except TaskError as e:
            raise click.ClickException(str(e)) from None
        named["run_dir"] = run_dir(out, task["task"])
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        return task, ctx, f"{len(task['observed'])} observed, {len(task['held_out'])} held-out"

    thread, values = run_graph("improve", db, resume=resume, thread=thread, start=start, progress=Progress, on_interrupt=ask,
                               context=(lambda saved: saved.replace(step=True)) if named.get("step") else None)
    if values is None:
        click.echo(f"paused. Continue with: python cli.py improve --resume {thread}", err=True)
        return
    report = values.get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; inspect it: python cli.py inspect {thread}")
    outcome = report.get("outcome") or {}
    if outcome.get("verdict") == "hurt":
        click.echo(f"WARNING: {outcome['text']}. The updated policy is worse than the original on this task "
                   f"(see {report['run_dir']}/report.md).", err=True)
    else:
        click.echo(outcome.get("text", ""), err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "outcome": outcome.get("verdict"),
                           "cost_total": report["cost_total"], "dataset_size": report["dataset_size"],
                           "held_out": report["held_out"], "accuracy": report.get("accuracy")}, indent=2))


@click.command(name="inspect")
@click.argument("thread")
@click.option("--db", envvar="ADS_CHECKPOINTS", help="SQLite checkpoint file (default $ADS_HOME/checkpoints.sqlite).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole state as JSON.")
def inspect_run(thread, db, as_json):
    """Show a run's steps, API calls, costs and state."""
    from graph.improve.report import api_calls
    from graph.runs import RunError
    from llms.registry import ads_home

    path = Path(db) if db else ads_home() / "checkpoints.sqlite"
    if not path.exists():
        raise click.ClickException(f"{path} does not exist: no run has been checkpointed there yet")
    store = open_store(db)
    try:
        info = store.info(thread)
        snap = store.snapshot(thread)
        history = store.history(thread)
        status = store.status(thread)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    values = snap.values or {}
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str, ensure_ascii=False))
        return
    ctx = info.context
    click.echo(f"thread {thread}  graph {info.graph}  run_dir {ctx.run_dir}  update {ctx.update}  policy {ctx.policy}")
    click.echo(f"status: {status}")
    click.echo("\nsteps:")
    for s in history:
        ran = ", ".join(t.name for t in s.tasks) or "-"
        click.echo(f"  {s.metadata.get('step', '?'):>3}  {s.created_at}  next: {ran}")
    calls = api_calls(values)
    if calls or values.get("calls"):
        click.echo(f"\nAPI calls ({len(calls)} of {len(values.get('calls') or [])} planned, cost {sum(c['cost'] for c in calls):g}):")
        for c in calls:
            click.echo(f"  {c['name']}({c['argument']!r}) cost {c['cost']:g} {c['status']}{' cached' if c['cached'] else ''}"
                       f" rows {c['rows']}" + (f" error: {c['error']}" if c.get("error") else ""))
        for d in values.get("dropped") or []:
            click.echo(f"  dropped {d.get('name', '')}({d.get('arg', '')!r}): {d['reason']}")
    click.echo("\nstate:")
    for key, value in values.items():
        size = f"{len(value)} items" if isinstance(value, (list, dict)) else repr(value)[:80]
        click.echo(f"  {key}: {size}")
    if values.get("report") and values["report"].get("outcome"):
        click.echo("\noutcome: " + values["report"]["outcome"]["text"])


@click.group()
def runs():
    """Checkpointed runs of every graph."""


@runs.command("list")
@click.option("--db", envvar="ADS_CHECKPOINTS", help="SQLite checkpoint file (default $ADS_HOME/checkpoints.sqlite).")
@click.option("-n", "limit", type=int, default=20, show_default=True, help="How many, newest first.")
def list_runs(db, limit):
    """Newest runs: thread, graph, status, run directory."""
    store = open_store(db)
    for info in store.list(limit):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        click.echo(f"{info.thread:<40} {info.graph:<12} {when}  {store.status(info.thread):<32} {info.run_dir}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: field -> {default, description}.")
def settings(as_json):
    """Every Context setting with its default and description (set with --set FIELD=VALUE)."""
    defaults = Context().to_dict()
    described = Context.describe()
    if as_json:
        click.echo(json.dumps({k: {"default": defaults[k], "description": d} for k, d in described.items()}, indent=2))
        return
    for name, text in described.items():
        click.echo(f"{name} = {json.dumps(defaults[name])}\n    {text}")
