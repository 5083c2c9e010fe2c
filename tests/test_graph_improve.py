"""The improve graph driven end to end by scripted models and a counting fake of the tool layer."""

from __future__ import annotations

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import tools
from graph.context import Context
from graph.improve.graph import builder
from tests.fakes import FACTS, PLAN, SCRIPTED_PLAN, TASK, FakeTools, answer


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
                   cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"), **{**SCRIPTED_PLAN, **kw})


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
    assert report["cost_total"] == 4.0 and report["update"] == "icl-knn" and report["judge"] == "verifier"

    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == report["dataset_size"] == 3
    assert rows[0]["text"] == FACTS["Zorbia"] and rows[0]["provenance"] == {"tool": "information_retrieval", "arg": "Zorbia"}
    assert all(r["judge"] == {"quality": 8, "following": 7, "score": pytest.approx(6.5 / 9), "reading": "text"} for r in rows)
    assert "ifd" not in rows[2]  # no default curation step reads IFD, so it is not computed

    # the two answerable held-out questions improve, the unanswerable one stays a tie
    assert report["held_out"]["n"] == 3
    assert (report["held_out"]["win"], report["held_out"]["tie"], report["held_out"]["lose"]) == (2, 1, 0)
    assert report["accuracy"] == {"n": 3, "original": 0.0, "updated": pytest.approx(2 / 3), "gained": 2, "lost": 0}
    assert report["outcome"]["verdict"] == "helped" and "0.0% -> 66.7% (+66.7 points on 3 items: 2 gained, 0 lost)" in report["outcome"]["text"]
    assert set(report["timings"]) >= {"analyse", "parse", "tools", "judge", "ifd", "curate", "update", "evaluate"}

    # the optimizer saw the observed instructions and never a held-out one
    seen = "\n".join(m["content"] for m in optimizer.history[0])
    assert all(o in seen for o in TASK["observed"])
    assert not any(h["instruction"] in seen for h in TASK["held_out"])
    assert "information_retrieval" in seen and "<api_calls>none</api_calls>" in seen  # API list and two-shot

    run = tmp_path / "run"
    assert json.loads((run / "report.json").read_text())["held_out"] == report["held_out"]
    assert "| information_retrieval | Zorbia | 1 | ok |" in (run / "report.md").read_text()
    # the report names the optimizer it used: prompted here; refined, its adapter
    assert report["optimizer_adapter"] is None and "optimizer `fake:optimizer` (prompted: no adapter)" in (run / "report.md").read_text()
    from graph.improve.report import markdown

    refined = markdown({**report, "optimizer": "fake:optimizer+runs/r/iter1/optimizer/adapter",
                        "optimizer_adapter": "runs/r/iter1/optimizer/adapter"}, {})
    assert "(refined: LoRA adapter `runs/r/iter1/optimizer/adapter`)" in refined
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

    from graph.improve.graph import graph as improve_graph

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
from tests.fakes import FACTS, PLAN, TASK, FakeTools, answer
from tests.test_graph_improve import context

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
from graph.improve.graph import builder
app = builder.compile(checkpointer=SqliteSaver(sqlite3.connect(str(tmp / "runs.sqlite"), check_same_thread=False)))
config = {"configurable": {"thread_id": "killed"}}
first = None if app.get_state(config).next else TASK
out = app.invoke(first, config, context=context(tmp), durability="sync")
print(json.dumps(out["report"]))
'''


def test_a_run_killed_during_the_tools_stage_resumes_without_repeating_finished_calls(tmp_path, spawn):
    from tests.fakes import kill_then_resume

    report = kill_then_resume(KILLABLE_RUN, tmp_path, {"KILL_AT": "Quxland"}, spawn.run)

    started = [tuple(json.loads(line)) for line in (tmp_path / "calls.log").read_text().splitlines()]
    # Zorbia finished before the kill and is not paid again; Quxland was cut off and runs once more
    assert started == [("information_retrieval", "Zorbia"), ("information_retrieval", "Quxland"),
                       ("information_retrieval", "Quxland"), ("demonstration_generation", "capital questions")]
    assert [(c["argument"], c["status"]) for c in report["api_calls"]] == [
        ("Zorbia", "ok"), ("Quxland", "ok"), ("capital questions", "ok")]
    assert report["held_out"]["win"] == 2


def test_sft_update_trains_on_the_curated_rows_and_evaluates_base_plus_adapter(tmp_path, models, fake_tools, monkeypatch):
    import trainers.sft

    trained = {}

    def fake_run_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.update(rows=list(rows), base=base, out_dir=str(out_dir))
        return tmp_path / "adapter"

    monkeypatch.setattr(trainers.sft, "run_sft", fake_run_sft)
    models[0].script(PLAN)
    # 3 rows: sft_min_rows 0, as the default 15 would not train (test_checks.py tests the threshold)
    report = builder.compile().invoke(TASK, context=context(tmp_path, update="sft", sft_min_rows=0))["report"]
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


# ---- every setting and prompt override changes the run ------------------------------------------

def run_with(tmp_path, models, **settings):
    models[0].respond = lambda m: PLAN
    ctx = Context.build({**context(tmp_path).to_dict(), **settings})
    return builder.compile().invoke(TASK, context=ctx)["report"]


def text_of(history) -> list[str]:
    return ["\n".join(m["content"] for m in h) for h in history]


def test_judge_mode_decides_who_judges(tmp_path, models, fake_tools):
    judge = models[2]
    judge.respond = lambda m: "Quality: 8\nFollowing: 7" if "1-10" in m[-1]["content"] else "Same. [[C]]"
    assert run_with(tmp_path / "a", models)["judge"] == "verifier"
    report = run_with(tmp_path / "b", models, judge_mode="pairwise")
    assert report["judge"] == "pairwise:fake:judge" and report["held_out"]["tie"] == 3 and report["accuracy"] is None


def test_reward_model_judges_items_without_a_verifier(tmp_path, models, fake_tools, monkeypatch):
    import scoring.reward
    from scoring.verdict import Verdict

    seen = {}

    def fake_reward(rm, instructions, a, b, *, tie_margin, batch_size):
        seen.update(rm=rm, n=len(instructions), tie_margin=tie_margin)
        return [Verdict("reward", "A") for _ in instructions]

    monkeypatch.setattr(scoring.reward, "reward_pairwise", fake_reward)
    task = {**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]}
    models[0].respond = lambda m: PLAN
    ctx = Context.build({**context(tmp_path).to_dict(), "reward_model": "some/rm", "tie_margin": 0.25})
    report = builder.compile().invoke(task, context=ctx)["report"]
    assert seen == {"rm": "some/rm", "n": 3, "tie_margin": 0.25}
    assert report["judge"] == "reward:some/rm" and report["held_out"]["win"] == 3


def test_dtype_reaches_every_model_load_including_the_tools(tmp_path, models, monkeypatch):
    import llms
    from llms import factory

    loads = []
    real = factory._BACKENDS["fake"]
    monkeypatch.setitem(factory._BACKENDS, "fake", lambda ms, **o: loads.append((ms.name, o.get("dtype"))) or real(ms, **o))
    llms.unload(backend="fake")
    models[1].respond = lambda m: "Instruction: Name a capital.\nResponse: Quxton." if "Topic" in m[-1]["content"] else answer(m)
    plan = '<api_calls><api>demonstration_generation("capitals")</api></api_calls>'
    models[0].respond = lambda m: plan
    ctx = Context.build({**context(tmp_path).to_dict(), "dtype": "bfloat16", "tool_cache": False})
    report = builder.compile().invoke(TASK, context=ctx)["report"]
    assert report["api_calls"][0]["status"] == "ok"
    assert loads and {d for _, d in loads} == {"bfloat16"}  # one dtype: the policy is never loaded twice
    assert {n for n, _ in loads} == {"optimizer", "policy", "judge"}


def test_icl_token_budget_and_eval_max_new_tokens(tmp_path, models, fake_tools):
    big = run_with(tmp_path / "a", models, update="icl")
    small = run_with(tmp_path / "b", models, update="icl", icl_token_budget=20, eval_max_new_tokens=17)
    assert big["updated_policy"]["rows_used"] == 3 and small["updated_policy"]["rows_used"] < 3
    assert small["updated_policy"]["tokens"] <= 20 and small["updated_policy"]["token_budget"] == 20
    assert models[1].params[-1].max_new_tokens == 17


def test_min_judge_score_and_assess_threshold_drop_rows(tmp_path, models, fake_tools):
    # the judge rates every row quality 8, following 7: score (7.5 - 1) / 9 = 0.72
    assert run_with(tmp_path / "a", models, min_judge_score=0.7)["dataset_size"] == 3
    report = run_with(tmp_path / "b", models, min_judge_score=0.8)
    assert report["dataset_size"] == 0 and report["curation"][-1]["dropped"] == 3
    assert run_with(tmp_path / "c", models, curation="isheep", assess_threshold=7)["dataset_size"] == 3
    report = run_with(tmp_path / "d", models, curation="isheep")
    assert report["dataset_size"] == 0 and "below 8" in report["curation"][-1]["examples"][0]["reason"]


def test_max_perplexity_and_ifd_band_use_the_policys_log_probs(tmp_path, models, fake_tools):
    # the fake policy gives -1 per token with the instruction, -2 without: ppl e = 2.72, IFD e^-1 = 0.37
    assert run_with(tmp_path / "a", models, curation="perplexity", max_perplexity=3)["dataset_size"] == 3
    report = run_with(tmp_path / "b", models, curation="perplexity", max_perplexity=2)
    assert report["dataset_size"] == 2 and report["curation"][-1]["examples"][0]["reason"] == "perplexity 2.7 > 2"
    assert run_with(tmp_path / "c", models, curation="ifd", min_ifd=0.5)["dataset_size"] == 2
    rows = [json.loads(x) for x in (tmp_path / "c" / "run" / "dataset.jsonl").read_text().splitlines()]
    assert all(r["type"] == "document" for r in rows)  # the one pair had IFD 0.37 < 0.5


def test_large_model_drives_the_star_step(tmp_path, models, fake_tools, fake_llm):
    # the large model finds the pair easier than the policy does (IFD 0.14 < 0.37): dual IFD > 0
    fake_llm("large").logprob_fn = lambda context, continuation: [-0.5 if context else -2.5] * max(1, len(continuation) // 4)
    report = run_with(tmp_path / "a", models, curation="star", large_model="fake:large")
    row = [json.loads(x) for x in (tmp_path / "a" / "run" / "dataset.jsonl").read_text().splitlines()][-1]
    assert report["dataset_size"] == 3 and row["dual_ifd"] == pytest.approx(1.0) and row["star_score"] > 0
    fake_llm("large").logprob_fn = lambda context, continuation: [-2.0] * max(1, len(continuation) // 4)
    assert run_with(tmp_path / "b", models, curation="star", large_model="fake:large")["dataset_size"] == 2


def test_prompt_overrides_reach_icl_judge_and_self_assessment(tmp_path, models, fake_tools):
    optimizer, policy, judge = models
    judge.respond = lambda m: "Quality: 8\nFollowing: 7" if "RATE-ME" in m[-1]["content"] else "[[C]]"
    overrides = {"ICL_PROMPT": "USE-THIS {data}\n\n{instruction}", "ICL_KNN_PROMPT": "USE-THIS {data}\n\n{instruction}",
                 "SELF_ASSESS_PROMPT": "RATE-ME {instruction} / {response}: Quality: <1-10> Following: <1-10>",
                 "JUDGE_PAIRWISE_SYSTEM": "JUDGE-SYSTEM", "JUDGE_PAIRWISE_PROMPT": "JUDGE-THIS {question} {answer_a} {answer_b}",
                 "OPTIMIZER_TASK": "PLAN-FOR {description}: {instructions}"}
    report = run_with(tmp_path, models, prompts=overrides, judge_mode="pairwise")
    assert any("USE-THIS" in t for t in text_of(policy.history))
    assert sum("RATE-ME" in t for t in text_of(judge.history)) == 3  # one per gathered row
    assert sum(t.startswith("JUDGE-SYSTEM") and "JUDGE-THIS" in t for t in text_of(judge.history)) == 6  # both orders
    assert "PLAN-FOR (not given: infer it from the instructions)" in text_of(optimizer.history)[0]
    assert report["dataset_size"] == 3 and report["held_out"]["tie"] == 3


def test_the_optimizer_sees_a_description_never_the_task_name_and_copies_are_flagged(tmp_path, models, fake_tools):
    optimizer = models[0]
    copied = ('<api_calls><api>information_retrieval("capitals")</api><api>information_retrieval("Cricket")</api>'
              '<api>information_retrieval("Zorbia")</api></api_calls>')
    optimizer.respond = lambda m: copied  # asked again after each copy, it copies again: never bought
    task = {**TASK, "description": "Capital cities of made-up countries."}
    ctx = Context.build({**context(tmp_path).to_dict(), "seed": 0})
    report = builder.compile().invoke(task, context=ctx)["report"]
    prompt = "\n".join(m["content"] for m in optimizer.history[0])
    assert "Task: Capital cities of made-up countries." in prompt and "capitals" not in prompt
    assert "questions about the rules of cricket" in prompt  # seed 0 shows example A
    assert [(f["arg"], f["flag"][:30]) for f in report["flagged_calls"]] == [("capitals", "the argument is the task's nam")]
    assert ("information_retrieval", "Cricket") not in fake_tools.calls and report["copied_calls_rejected"] == 3
    assert "flagged call information_retrieval('capitals')" in (tmp_path / "run" / "report.md").read_text()
    seed1 = Context.build({**context(tmp_path / "s1").to_dict(), "seed": 1})
    builder.compile().invoke(task, context=seed1)
    assert "polite business emails" in "\n".join(m["content"] for m in optimizer.history[-1])


def test_knn_min_overlap_reaches_the_update_and_narrows_the_contexts(tmp_path, models, fake_tools):
    loose = run_with(tmp_path / "a", models, knn_min_overlap=0.0)
    strict = run_with(tmp_path / "b", models, knn_min_overlap=1.0)
    assert loose["updated_policy"].get("min_overlap") == 0.0 and strict["updated_policy"]["min_overlap"] == 1.0
    assert strict["coverage"]["with_context"] < loose["coverage"]["with_context"]


def test_knn_context_overlap_reaches_the_update_and_asks_bare_below_it(tmp_path, models, fake_tools):
    off = run_with(tmp_path / "a", models, knn_context_overlap=0.0)
    strict = run_with(tmp_path / "b", models, knn_context_overlap=1.0)
    assert off["updated_policy"]["min_context_overlap"] == 0.0 and strict["updated_policy"]["min_context_overlap"] == 1.0
    assert strict["coverage"]["with_context"] < off["coverage"]["with_context"]


def test_the_agreement_checks_apply_where_held_out_items_carry_answers_only(tmp_path, models, fake_tools):
    models[0].respond = lambda m: PLAN
    ctx = Context.build({**context(tmp_path / "a").to_dict(), "knn_min_overlap": 0.34, "knn_context_overlap": 0.5,
                         "knn_answer_support": 0.3})
    knowledge = builder.compile().invoke(TASK, context=ctx)["report"]["updated_policy"]
    assert (knowledge["min_overlap"], knowledge["min_context_overlap"], knowledge["min_answer_support"]) == (0.34, 0.5, 0.3)
    no_answers = {**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]}
    ctx = Context.build({**context(tmp_path / "b").to_dict(), "knn_min_overlap": 0.34, "knn_context_overlap": 0.5,
                         "knn_answer_support": 0.3, "judge_mode": "pairwise"})
    judged = builder.compile().invoke(no_answers, context=ctx)["report"]["updated_policy"]
    assert (judged["min_overlap"], judged["min_context_overlap"], judged["min_answer_support"]) == (0.0, 0.0, 0.0)


def test_retrieval_breadth_is_auto_300_where_held_out_items_carry_answers_else_10(tmp_path, models, fake_tools):
    models[0].respond = lambda m: PLAN
    knowledge = builder.compile().invoke(TASK, context=context(tmp_path / "a"))["report"]
    assert fake_tools.retrieval_k == [300, 300]
    # the rule's passages (2 observed x 300) over the plan's 2 retrieval calls: 300 each, a cost per passage
    assert "split over its retrieval calls: 300, 300" in knowledge["cost_rule"] and knowledge["passages_bought"] == 2
    no_answers = {**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]}
    judged = builder.compile().invoke(no_answers, context=context(tmp_path / "b", judge_mode="pairwise"))["report"]
    assert fake_tools.retrieval_k[2:] == [10, 10] and "returns 10 passage(s) a call" in judged["cost_rule"]
    builder.compile().invoke(TASK, context=context(tmp_path / "c", retrieval_k=20))  # a user's k is kept
    assert fake_tools.retrieval_k[4:] == [20, 20]
    builder.compile().invoke(TASK, context=context(tmp_path / "d", update="icl"))  # breadth is icl-knn's
    assert fake_tools.retrieval_k[6:] == [10, 10]


def test_an_answer_its_context_does_not_support_is_given_without_it_and_reported(tmp_path, models, fake_tools):
    def talkative(messages):  # with a passage in its prompt it talks about the passage, not the question
        text = messages[-1]["content"]
        return "You've already provided a comprehensive overview." if "[1]" in text else answer(messages)

    models[1].respond = talkative
    gated = run_with(tmp_path / "a", models, knn_answer_support=0.3)
    assert gated["coverage"]["unsupported"] == gated["coverage"]["with_context"] > 0
    assert gated["accuracy"]["lost"] == 0 and gated["held_out"]["tie"] == 3  # each answered as the policy alone does
    md = (tmp_path / "a" / "run" / "report.md").read_text()
    assert "drew too little on their context" in md and "asked without its context" in md
    off = run_with(tmp_path / "b", models, knn_answer_support=0.0)
    assert "unsupported" not in off["coverage"]
