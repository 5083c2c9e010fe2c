"""Runs, their units and the run registry in a real Postgres (pgserver starts one for the session):
the same evaluation as on SQLite, killed and resumed there, driven by the CLI; and the errors a bad
URI or a missing extra give (those need no server)."""

from __future__ import annotations

import json
import sys

import pytest

from graph.harness import comparable
from graph.runs import RunStore
from graph.stores import StoreError
from tests.test_graph_evaluate import TASKS, setup  # noqa: F401  (the scripted models and fake tools)

INPUTS = {"tasks": TASKS, "methods": ["original", "ads"]}


def unit_threads(uri: str, run_dir) -> list[str]:
    store = RunStore(uri)
    try:
        return sorted(r[0] for r in store.db.execute("SELECT thread FROM ads_runs WHERE thread LIKE ?", (f"{run_dir}|cells|%",)))
    finally:
        store.close()


def test_an_evaluation_in_postgres_reports_what_it_reports_on_sqlite(setup, tmp_path, postgres):  # noqa: F811
    ctx, fake, _ = setup
    _, lite = RunStore(tmp_path / "runs.sqlite").start("evaluate", INPUTS, ctx)
    pg_ctx = ctx.replace(run_dir=str(tmp_path / "pg"), checkpoint_uri=postgres)
    thread, pg = RunStore(postgres).start("evaluate", INPUTS, pg_ctx)
    assert comparable(pg["eval_report"], pg_ctx.run_dir) == comparable(lite["eval_report"], ctx.run_dir)
    assert pg["eval_report"]["methods"][1]["gained"] == 2
    # the improve runs of the cells are threads of the Postgres database, named after their run (the
    # original policy's cells run nothing); no SQLite file was written
    assert unit_threads(postgres, pg_ctx.run_dir) == [f"{pg_ctx.run_dir}|cells|{k}" for k in ("quxland|ads|0", "zorbia|ads|0")]
    assert (tmp_path / "eval" / "cells.sqlite").exists() and not (tmp_path / "pg" / "cells.sqlite").exists()
    again = RunStore(postgres)
    assert again.status(thread) == "finished" and again.info(thread).context.checkpoint_uri == postgres


def test_an_evaluation_killed_in_postgres_resumes_without_rerunning_finished_cells(setup, tmp_path, postgres, monkeypatch):  # noqa: F811
    from tests.fakes import evaluate_killed_at

    ctx, fake, _ = setup
    ran, values = evaluate_killed_at(monkeypatch, 3, RunStore(postgres), ctx.replace(checkpoint_uri=postgres), INPUTS)
    assert ran == ["zorbia|original|0", "zorbia|ads|0", "quxland|original|0", "quxland|original|0", "quxland|ads|0"]
    assert values["eval_report"]["cells"] == 4 and len(fake.calls) == 6  # each ads cell bought its 3 calls once


def test_the_same_command_runs_against_postgres_and_sqlite(setup, tmp_path, postgres, monkeypatch):  # noqa: F811
    import yaml
    from click.testing import CliRunner

    from cli import main
    from tests.fakes import SCRIPTED_PLAN_ARGS

    folder = tmp_path / "tasks" / "test"
    folder.mkdir(parents=True)
    for t in TASKS:
        (folder / f"{t['task']}.yaml").write_text(yaml.safe_dump({"name": t["task"], **{k: t[k] for k in ("observed", "held_out")}}))
    reports = {}
    for name, db in (("sqlite", str(tmp_path / "runs.sqlite")), ("postgres", postgres)):
        out = tmp_path / name
        args = ["evaluate", "--tasks", str(tmp_path / "tasks"), "--methods", "original,ads", "--out", str(out), "--db", db,
                "--policy", "fake:policy", "--optimizer", "fake:optimizer", "--judge", "fake:judge", *SCRIPTED_PLAN_ARGS,
                "--set", f"cache_path={tmp_path / 'c.sqlite'}"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        reports[name] = comparable(json.loads((out / "eval_report.json").read_text()), out)
        listed = CliRunner().invoke(main, ["runs", "list", "--db", db, "-n", "50"])
        assert listed.exit_code == 0 and str(out) in listed.output and "finished" in listed.output
    assert reports["sqlite"] == reports["postgres"]
    assert not (tmp_path / "postgres" / "cells.sqlite").exists()  # --db postgresql://... took the cells along


def test_a_bad_uri_or_a_missing_extra_says_what_to_do(monkeypatch):
    with pytest.raises(StoreError, match=r"cannot open the checkpoint database postgresql://ads:\*\*\*@127\.0\.0\.1:1/runs: "
                                         r".*Check the URI"):
        RunStore("postgresql://ads:secret@127.0.0.1:1/runs")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the distributed extra were not installed
    with pytest.raises(StoreError, match=r"needs psycopg, which is not installed: pip install -e '\.\[distributed\]'"):
        RunStore("postgresql://ads@127.0.0.1:1/runs")


def test_the_run_store_takes_any_langgraph_saver(setup, tmp_path):  # noqa: F811
    from langgraph.checkpoint.memory import InMemorySaver

    ctx, _, _ = setup
    saver = InMemorySaver()
    store = RunStore(tmp_path / "registry.sqlite", saver=saver)
    thread, values = store.start("evaluate", {"tasks": TASKS[:1], "methods": ["original"]}, ctx)
    assert values["eval_report"]["cells"] == 1 and store.status(thread) == "finished"
    assert any(c.config["configurable"]["thread_id"] == thread for c in saver.list(None))
