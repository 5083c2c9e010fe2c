"""A real two-round improve run on the default task (SmolLM2, the real tools, the default corpus),
killed with os._exit (as kill -9: no cleanup) in round 2, then resumed: in round 2's first tool
call, or, when the 135M optimizer buys nothing new in round 2, in round 2's measurement."""

from __future__ import annotations

import json

import pytest

from tests.fakes import kill_then_resume

pytestmark = pytest.mark.real

SCRIPT = r'''
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import tools
from graph.context import Context
from graph.runs import RunStore
from graph.tasks.load import load_task

tmp = Path(sys.argv[2])
state = {"round": 1}
real = tools.call_tool

def call_tool(name, arg, ctx):
    with open(tmp / "calls.log", "a") as log:
        log.write(json.dumps([state["round"], name, arg]) + "\n")
    if state["round"] == 2 and os.environ.get("KILL_IN_ROUND_2"):
        os._exit(9)  # dies in the middle of round 2's first call: no cleanup, no checkpoint
    return real(name, arg, ctx)

tools.call_tool = call_tool

import graph.heldout
real_measure = graph.heldout.measure

def measure(*args, **kwargs):
    if state["round"] == 2 and os.environ.get("KILL_IN_ROUND_2"):
        os._exit(9)
    return real_measure(*args, **kwargs)

graph.heldout.measure = measure

def on_update(node, update):
    if node == "round":
        state["round"] = update["rounds"][-1]["round"] + 2

store = RunStore(tmp / "runs.sqlite")
ctx = Context.build(run_dir=str(tmp / "run"), rounds=2, stop_without_gain=False, max_calls=3, max_new_tokens=96,
                    eval_max_new_tokens=32, demonstrations_per_call=1, cache_path=str(tmp / "cache.sqlite"),
                    memory_path=str(tmp / "memory"))
known = (store.db.execute("SELECT thread FROM ads_runs") or [None])[0]
if known:
    state["round"] = 2
    values = store.resume(known[0], on_update=on_update)
else:
    values = store.start("improve", load_task(), ctx, thread="two-rounds", on_update=on_update)[1]
print(json.dumps(values["report"]))
'''


def test_two_real_rounds_killed_in_round_two_resume_without_paying_again(tmp_path, smollm, corpus, spawn):
    report = kill_then_resume(SCRIPT, tmp_path, {"KILL_IN_ROUND_2": "1"}, spawn.run)

    started = [tuple(json.loads(line)) for line in (tmp_path / "calls.log").read_text().splitlines()]
    round1 = [c for c in started if c[0] == 1]
    round2 = [c for c in started if c[0] == 2]
    assert len(set(round1)) == len(round1)  # round 1's calls ran once, never again after the kill
    if round2:  # killed in round 2's first call: only that call ran again
        assert round2.count(round2[0]) == 2 and len(round2) == len(set(round2)) + 1
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    assert all(set(r) >= {"calls", "cost", "validation_score", "gain"} for r in report["rounds"])
    assert report["held_out"]["n"] == 20 - len(report["validation_items"]) and len(report["validation_items"]) == 6
    assert (tmp_path / "run" / "rounds.png").exists()
