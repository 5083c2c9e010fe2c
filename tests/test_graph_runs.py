"""graph/runs.py: start, drive, pause, resume, list and inspect runs of a graph on SQLite."""

from __future__ import annotations

import sqlite3

import pytest

import tools
from graph.context import Context
from graph.runs import RunError, RunStore, config_for
from tests.fakes import PLAN, SCRIPTED_PLAN, TASK, FakeTools, answer


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    fake_llm("optimizer").respond = lambda m: PLAN
    fake_llm("policy").respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    store = RunStore(tmp_path / "runs.sqlite")
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge",
                        run_dir=str(tmp_path / "run"), cache_path=str(tmp_path / "c.sqlite"), **SCRIPTED_PLAN)
    return store, ctx, fake


def test_start_streams_every_node_and_records_the_run(setup):
    store, ctx, fake = setup
    nodes = []
    thread, values = store.start("improve", TASK, ctx, on_update=lambda node, update: nodes.append(node))
    assert nodes == ["analyse", "parse", "tools", "tools", "tools", "judge", "ifd", "curate", "update", "gate", "evaluate", "report"]
    assert values["report"]["held_out"]["win"] == 2 and len(fake.calls) == 3
    assert thread.startswith("run-") and store.status(thread) == "finished"
    assert [r.thread for r in store.list()] == [thread] and store.info(thread).context.run_dir == ctx.run_dir
    # a finished run resumes to its values without running anything
    assert store.resume(thread)["report"] == values["report"] and len(fake.calls) == 3


def test_thread_ids_are_new_unless_named_and_a_named_one_is_never_reused(setup):
    store, ctx, _ = setup
    ids = {store.new_thread("improve", ctx) for _ in range(5)}
    assert len(ids) == 5
    store.new_thread("improve", ctx, "mine")
    with pytest.raises(RunError, match="thread 'mine' exists; continue it with --resume mine"):
        store.new_thread("improve", ctx, "mine")
    with pytest.raises(RunError, match="no run with thread 'nope'"):
        store.info("nope")
    with pytest.raises(RunError, match="unknown graph 'nope'"):
        store.new_thread("nope", ctx)


def test_an_interrupt_left_unanswered_pauses_and_resume_continues_with_the_saved_settings(setup):
    store, ctx, fake = setup
    ctx = ctx.replace(step=True)
    asked = []
    thread, values = store.start("improve", TASK, ctx, on_interrupt=lambda p: asked.append(p) or None)
    assert values is None and len(asked) == 1 and fake.calls == []
    assert store.status(thread).startswith("paused at an interrupt before tools")
    answers = iter(["approve", "skip", "approve"])
    values = store.resume(thread, on_interrupt=lambda p: next(answers))
    assert [(c["argument"], c["status"]) for c in values["report"]["api_calls"]] == [
        ("Zorbia", "ok"), ("Quxland", "skipped"), ("capital questions", "ok")]
    assert fake.calls == [("information_retrieval", "Zorbia"), ("demonstration_generation", "capital questions")]


def test_a_run_with_many_calls_and_retries_fits_its_derived_recursion_limit(setup, fake_llm):
    store, ctx, fake = setup
    many = "<api_calls>" + "".join(f'<api>information_retrieval("topic {i}")</api>' for i in range(60)) + "</api_calls>"
    fake_llm("optimizer").script("no format", "still none", many)
    ctx = ctx.replace(max_calls=60, max_cost=100, parse_retries=2)
    thread, values = store.start("improve", TASK, ctx)
    assert len(fake.calls) == 60 and values["report"]["optimizer_attempts"] == 3
    assert config_for("improve", thread, ctx, TASK)["recursion_limit"] < 100  # derived, not a blanket literal


def test_a_checkpoint_file_from_before_graphs_were_named_still_opens(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.sqlite")
    conn.execute("CREATE TABLE ads_runs (thread TEXT PRIMARY KEY, run_dir TEXT, context TEXT, created REAL)")
    conn.execute("INSERT INTO ads_runs VALUES ('old', 'runs/x', '{\"policy\": \"p\", \"removed_field\": 1}', 1.0)")
    conn.commit()
    conn.close()
    info = RunStore(tmp_path / "old.sqlite").info("old")
    assert info.graph == "improve" and info.context.policy == "p"
