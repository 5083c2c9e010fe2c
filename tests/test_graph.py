"""The improve graph driven end to end by scripted models and a counting fake of the tool layer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import tools
from graph.context import Context
from graph.improve import builder

PLAN = ('Zorbia and Quxland facts are missing.\n<api_calls><api>information_retrieval("Zorbia")</api>'
        '<api>retrieve_information("Quxland")</api><api>demonstration_generation("capital questions")</api></api_calls>')
FACTS = {"Zorbia": "Zorbia is a country whose capital is Quxton.",
         "Quxland": "Quxland is an island whose capital is Velmar."}
TASK = {
    "task": "capitals",
    "observed": ["What is the capital of Zorbia?", "Name the capital of Quxland."],
    "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
                 {"instruction": "Quxland's capital city is called what?", "answers": ["Velmar"]},
                 {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}],
}


@dataclass
class FakeResult:
    tool: str
    arg: str
    cost: float
    rows: list = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    latency_s: float = 0.01
    tokens: int = 0
    provenance: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


class FakeTools:
    """Stands in for tools.call_tool: documents for known topics, demonstrations otherwise; counts calls."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    def __call__(self, name, arg, ctx):
        self.calls.append((name, arg))
        if arg == self.fail_on:
            raise RuntimeError("index offline")
        prov = {"tool": name, "arg": arg}
        if name == "information_retrieval":
            text = FACTS.get(arg, f"Nothing is known about {arg}.")
            rows = [{"type": "document", "text": text, "title": arg, "score": 1.0, "source": name, "provenance": prov}]
        else:
            rows = [{"type": "demonstration", "instruction": f"Question about {arg}?", "response": f"An answer about {arg}.",
                     "source": name, "provenance": prov}]
        return FakeResult(tool=name, arg=arg, cost=ctx.costs[name], rows=rows, provenance=prov)


def answer(messages):
    """The fake policy knows a capital only when a passage in its prompt names it."""
    text = "\n".join(m["content"] for m in messages)
    for item in TASK["held_out"]:
        if item["instruction"] in text:
            context = text.replace(item["instruction"], "")
            for place, capital in (("Zorbia", "Quxton"), ("Quxland", "Velmar")):
                if place in item["instruction"] and capital in context:
                    return f"The capital of {place} is {capital}."
    return "I am not sure."


@pytest.fixture
def models(fake_llm):
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")
    policy.respond = answer
    policy.logprob_fn = lambda context, continuation: [-1.0 if context else -2.0] * max(1, len(continuation) // 4)
    judge.respond = lambda messages: "Accurate and useful. Quality: 8\nFollowing: 7"
    return optimizer, policy, judge


@pytest.fixture
def fake_tools(monkeypatch):
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    return fake


def context(tmp_path, **kw) -> Context:
    return Context(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                   cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"), **kw)


def without_times(report: dict) -> dict:
    drop = {"timings", "run_dir"}
    out = {k: v for k, v in report.items() if k not in drop}
    out["api_calls"] = [{k: v for k, v in c.items() if k != "latency_s"} for c in out["api_calls"]]
    return out


def test_scripted_models_drive_calls_dataset_update_and_evaluation(tmp_path, models, fake_tools):
    optimizer, policy, _ = models
    optimizer.script(PLAN)
    out = builder.compile().invoke(TASK, context=context(tmp_path))
    report = out["report"]
    assert set(out) == {"report"}  # the output schema: a host gets the report only

    assert fake_tools.calls == [("information_retrieval", "Zorbia"), ("information_retrieval", "Quxland"),
                                ("demonstration_generation", "capital questions")]
    assert [(c["name"], c["argument"], c["cost"]) for c in report["api_calls"]] == [
        ("information_retrieval", "Zorbia", 1.0), ("information_retrieval", "Quxland", 1.0),
        ("demonstration_generation", "capital questions", 2.0)]
    assert report["cost_total"] == 4.0 and report["update"] == "icl" and report["judge"] == "verifier"

    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == report["dataset_size"] == 3
    assert rows[0]["text"] == FACTS["Zorbia"] and rows[0]["provenance"] == {"tool": "information_retrieval", "arg": "Zorbia"}
    assert all(r["judge"] == {"quality": 8, "following": 7, "score": pytest.approx(6.5 / 9)} for r in rows)
    assert rows[2]["ifd"] is not None and rows[0]["ifd"] is None  # IFD needs an instruction-response pair

    # the two answerable held-out questions improve, the unanswerable one stays a tie
    assert report["held_out"]["n"] == 3
    assert (report["held_out"]["win"], report["held_out"]["tie"], report["held_out"]["lose"]) == (2, 1, 0)
    assert report["accuracy"] == {"n": 3, "original": 0.0, "updated": pytest.approx(2 / 3)}
    assert set(report["timings"]) >= {"analyse", "parse", "tools", "judge", "ifd", "curate", "update", "evaluate", "report"}

    # the optimizer saw the observed instructions and never a held-out one
    seen = "\n".join(m["content"] for m in optimizer.history[0])
    assert all(o in seen for o in TASK["observed"])
    assert not any(h["instruction"] in seen for h in TASK["held_out"])
    assert "information_retrieval" in seen and "<api_calls>none</api_calls>" in seen  # API list and two-shot

    run = tmp_path / "run"
    assert json.loads((run / "report.json").read_text())["held_out"] == report["held_out"]
    assert "| information_retrieval | Zorbia | 1 | ok |" in (run / "report.md").read_text()
    trajectory = json.loads((run / "trajectory.json").read_text())
    assert trajectory["optimizer_replies"][0]["text"] == PLAN and len(trajectory["results"]) == 3


def test_unparsable_replies_are_retried_then_recorded(tmp_path, models, fake_tools):
    optimizer = models[0]
    optimizer.script("I think the policy is fine.", "Still no format.", "Nope.")
    report = builder.compile().invoke(TASK, context=context(tmp_path, parse_retries=2))["report"]
    assert optimizer.calls == 3 and report["optimizer_attempts"] == 3
    assert "no usable reply after 3 attempt(s)" in report["parse_gave_up"]
    assert fake_tools.calls == [] and report["dataset_size"] == 0 and report["held_out"]["n"] == 3
    # a retry tells the optimizer what was wrong
    assert "could not be read" in optimizer.history[1][-1]["content"]


def test_a_retry_that_parses_is_used(tmp_path, models, fake_tools):
    models[0].script("no idea", PLAN)
    report = builder.compile().invoke(TASK, context=context(tmp_path))["report"]
    assert report["optimizer_attempts"] == 2 and len(fake_tools.calls) == 3 and report["parse_gave_up"] is None


def test_budget_bounds_the_calls_and_records_the_rest(tmp_path, models, fake_tools):
    models[0].script(PLAN)
    report = builder.compile().invoke(TASK, context=context(tmp_path, max_calls=5, max_cost=2.5))["report"]
    assert len(fake_tools.calls) == 2 and report["cost_total"] == 2.0
    assert report["dropped_calls"] == [{"name": "demonstration_generation", "arg": "capital questions", "cost": 2.0,
                                        "reason": "over --max-cost 2.5"}]


def test_a_failing_tool_becomes_an_error_and_the_run_goes_on(tmp_path, models, monkeypatch):
    fake = FakeTools(fail_on="Zorbia")
    monkeypatch.setattr(tools, "call_tool", fake)
    models[0].script(PLAN)
    report = builder.compile().invoke(TASK, context=context(tmp_path))["report"]
    first = report["api_calls"][0]
    assert first["status"] == "error" and "index offline" in first["error"] and first["cost"] == 0.0
    assert [c["status"] for c in report["api_calls"][1:]] == ["ok", "ok"]
    assert report["held_out"]["win"] == 1  # only Quxland's passage was bought


def test_step_mode_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, models, fake_tools):
    optimizer = models[0]
    optimizer.script(PLAN, PLAN)
    plain = builder.compile().invoke(TASK, context=context(tmp_path / "a"))["report"]

    app = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    ctx = context(tmp_path / "b", step=True)
    out = app.invoke(TASK, config, context=ctx)
    pauses = []
    while "__interrupt__" in out:
        pauses.append(out["__interrupt__"][0].value)
        out = app.invoke(Command(resume="approve"), config, context=ctx)
    assert [p["pending"]["arg"] for p in pauses] == ["Zorbia", "Quxland", "capital questions"]
    assert pauses[0]["call"] == "1 of 3" and pauses[1]["cost_so_far"] == 1.0
    assert without_times(out["report"]) == without_times(plain)
    assert len(fake_tools.calls) == 6  # each call ran once per run, never again on resume


def test_step_mode_edit_skip_and_quit(tmp_path, models, fake_tools):
    models[0].script(PLAN)
    app = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t2"}}
    ctx = context(tmp_path, step=True)
    app.invoke(TASK, config, context=ctx)
    app.invoke(Command(resume={"action": "edit", "arg": "Quxland"}), config, context=ctx)
    app.invoke(Command(resume="skip"), config, context=ctx)
    out = app.invoke(Command(resume="quit"), config, context=ctx)
    assert fake_tools.calls == [("information_retrieval", "Quxland")]
    calls = out["report"]["api_calls"]
    assert [(c["argument"], c["status"]) for c in calls] == [("Quxland", "ok"), ("Quxland", "skipped"),
                                                             ("capital questions", "quit")]
    assert calls[0]["edited_from"] == "Zorbia" and out["report"]["cost_total"] == 1.0


def test_the_compiled_graph_runs_as_a_node_of_a_host_graph(tmp_path, models, fake_tools):
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    from graph.improve import graph as improve_graph

    class Host(TypedDict, total=False):
        request: str
        task: str
        observed: list
        held_out: list
        report: dict
        verdict: str

    def prepare(state: Host) -> dict:
        return {**{k: TASK[k] for k in ("task", "observed", "held_out")}}

    def decide(state: Host) -> dict:
        h = state["report"]["held_out"]
        return {"verdict": "ship" if h["win"] > h["lose"] else "hold"}

    host = StateGraph(Host, context_schema=Context)
    host.add_node("prepare", prepare)
    host.add_node("improve", improve_graph)
    host.add_node("decide", decide)
    host.add_edge(START, "prepare")
    host.add_edge("prepare", "improve")
    host.add_edge("improve", "decide")
    host.add_edge("decide", END)
    models[0].script(PLAN)
    out = host.compile(checkpointer=InMemorySaver()).invoke(
        {"request": "improve capitals"}, {"configurable": {"thread_id": "host"}}, context=context(tmp_path))
    assert out["verdict"] == "ship" and out["report"]["held_out"]["win"] == 2
    assert len(fake_tools.calls) == 3


KILLABLE_RUN = r'''
import json, os, sqlite3, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import llms, tools
from tests.fakes import ScriptedLLM
from tests.test_graph import PLAN, TASK, FakeTools, answer, context

fakes = {}
llms.register_backend("fake", lambda ms, **o: fakes.setdefault(ms.name, ScriptedLLM(spec=str(ms))))
llms.load("fake:optimizer").respond = lambda m: PLAN
llms.load("fake:policy").respond = answer
llms.load("fake:policy").logprob_fn = lambda c, r: [-1.0] * max(1, len(r) // 4)
llms.load("fake:judge").respond = lambda m: "Quality: 8/10. Score: 8"
tmp, kill_at, fake = Path(sys.argv[2]), os.environ.get("KILL_AT"), FakeTools()

def call_tool(name, arg, ctx):
    with open(tmp / "calls.log", "a") as log:
        log.write(json.dumps([name, arg]) + "\n")
    if arg == kill_at:
        os._exit(9)  # the process dies in the middle of this call: no cleanup, no checkpoint
    return fake(name, arg, ctx)

tools.call_tool = call_tool
from langgraph.checkpoint.sqlite import SqliteSaver
from graph.improve import builder
app = builder.compile(checkpointer=SqliteSaver(sqlite3.connect(str(tmp / "runs.sqlite"), check_same_thread=False)))
config = {"configurable": {"thread_id": "killed"}}
first = None if app.get_state(config).next else TASK
out = app.invoke(first, config, context=context(tmp), durability="sync")
print(json.dumps(out["report"]))
'''


def test_a_run_killed_during_the_tools_stage_resumes_without_repeating_finished_calls(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "run.py"
    script.write_text(KILLABLE_RUN)
    env = {**os.environ, "KILL_AT": "Quxland"}
    killed = subprocess.run([sys.executable, str(script), root, str(tmp_path)], env=env, capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr[-2000:]
    env.pop("KILL_AT")
    resumed = subprocess.run([sys.executable, str(script), root, str(tmp_path)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout.strip().splitlines()[-1])

    started = [tuple(json.loads(line)) for line in (tmp_path / "calls.log").read_text().splitlines()]
    # Zorbia finished before the kill and is not paid again; Quxland was cut off and runs once more
    assert started == [("information_retrieval", "Zorbia"), ("information_retrieval", "Quxland"),
                       ("information_retrieval", "Quxland"), ("demonstration_generation", "capital questions")]
    assert [(c["argument"], c["status"]) for c in report["api_calls"]] == [
        ("Zorbia", "ok"), ("Quxland", "ok"), ("capital questions", "ok")]
    assert report["held_out"]["win"] == 2


def test_curation_dedupes_filters_by_judge_score_and_keeps_provenance():
    from graph.curate import curate_rows

    rows = [{"type": "document", "text": "Mars is red.", "title": "Mars", "score": 3.2, "provenance": {"q": "Mars"}},
            {"type": "document", "text": "  mars is RED. ", "title": "Mars", "provenance": {"q": "red planet"}},
            {"type": "demonstration", "instruction": "Q?", "response": "A.", "provenance": {"topic": "t"}},
            {"type": "qa", "instruction": "Why?", "response": "", "provenance": {}},
            {"type": "qa", "instruction": "How?", "response": "So.", "provenance": {}}]
    judge = [{"score": 0.9}, {"score": 0.9}, {"score": 0.2}, {"score": 0.9}, {"score": None}]
    kept, dropped = curate_rows(rows, judge, [None, None, 1.2, None, 0.8], min_judge_score=0.5)
    assert [r["text"] if r["type"] == "document" else r["instruction"] for r in kept] == ["Mars is red.", "How?"]
    assert kept[0]["provenance"] == {"q": "Mars"} and kept[0]["retrieval_score"] == 3.2 and kept[0]["score"] == 0.9
    assert kept[1]["ifd"] == 0.8 and kept[1]["score"] is None  # an unreadable assessment is not a failing one
    assert [d["reason"] for d in dropped] == ["duplicate", "judge score 0.20 < 0.5", "empty"]


def test_sft_update_trains_on_the_curated_rows_and_evaluates_base_plus_adapter(tmp_path, models, fake_tools, monkeypatch):
    import trainers.sft

    trained = {}

    def fake_run_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.update(rows=list(rows), base=base, out_dir=str(out_dir))
        return tmp_path / "adapter"

    monkeypatch.setattr(trainers.sft, "run_sft", fake_run_sft)
    models[0].script(PLAN)
    report = builder.compile().invoke(TASK, context=context(tmp_path, update="sft"))["report"]
    assert report["update"] == "sft" and len(trained["rows"]) == report["dataset_size"] == 3
    assert trained["base"] == "fake:policy" and trained["out_dir"].startswith(str(tmp_path / "run"))
    assert report["updated_policy"]["policy"] == f"fake:policy+{tmp_path / 'adapter'}"
    # the fake loader serves base+adapter with the same scripted policy, which knows nothing without context
    assert (report["held_out"]["win"], report["held_out"]["tie"]) == (0, 3)


def test_held_out_without_answers_goes_to_the_pairwise_judge_in_both_orders(tmp_path, models, fake_tools):
    optimizer, _, judge = models

    def judging(messages):
        text = "\n".join(m["content"] for m in messages)
        if "Following" in text or "following" in text and "1-10" in text:
            return "Quality: 8\nFollowing: 7"
        known, unsure = text.find("The capital of"), text.find("I am not sure")
        if known < 0:
            return "Both are the same. [[C]]"
        return "The one naming the capital is better. " + ("[[A]]" if known < unsure else "[[B]]")

    judge.respond = judging
    optimizer.script(PLAN)
    task = {**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]}
    report = builder.compile().invoke(task, context=context(tmp_path))["report"]
    assert report["judge"] == "pairwise:fake:judge" and report["accuracy"] is None
    assert (report["held_out"]["win"], report["held_out"]["tie"], report["held_out"]["lose"]) == (2, 1, 0)
    judged = [h for h in judge.history if "[[" in h[-1]["content"] or "Assistant" in h[-1]["content"]]
    assert len(judged) >= 6  # three pairs, each judged in both orders
