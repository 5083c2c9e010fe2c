"""The optimizer plans for the held-out questions without seeing them, copied calls are not bought,
the policy's own facts never reach the update, and the report shows coverage (issue: make the
update help). Scripted models, the counting fake of the tool layer."""

from __future__ import annotations

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.context import Context
from graph.improve.curate import fact_terms, grounded
from graph.improve.graph import builder
from graph.options import ConfigError
from tests.fakes import FACTS, TASK, FakeTools
from tests.test_graph_improve import fake_tools, models  # noqa: F401  (fixtures)

ANTICIPATED = "1. Instruction: Which river flows through the city of Velmar?\n1. Input:\n<noinput>\n###"


def run(tmp_path, task=TASK, **kw) -> dict:
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                        cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"),
                        judge_reading="text", **kw)
    app = builder.compile(checkpointer=InMemorySaver())
    return app.invoke(task, {"configurable": {"thread_id": "t"}, "recursion_limit": 200}, context=ctx)


def routed(optimizer, plan: str):
    """The optimizer answers the anticipation prompt with one question, the planning prompt with ``plan``."""
    def respond(messages):
        text = messages[-1]["content"]
        return ANTICIPATED if "Write one more question" in text else plan

    optimizer.respond = respond


def test_knowledge_task_plan_is_observed_then_anticipated_then_own_and_never_a_held_out_question(tmp_path, models,
                                                                                                 fake_tools):
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    out = run(tmp_path, anticipate=1, max_calls=6)
    assert fake_tools.calls == [("information_retrieval", TASK["observed"][0]),
                                ("information_retrieval", TASK["observed"][1]),
                                ("information_retrieval", "Which river flows through the city of Velmar?"),
                                ("information_retrieval", "Zorbia")]
    held = {h["instruction"] for h in TASK["held_out"]}
    assert not held & {arg for _, arg in fake_tools.calls}  # no held-out question is ever sent to an API
    asked = " ".join(m["content"] for msgs in optimizer.history for m in msgs)
    assert not any(h in asked for h in held)  # ... nor shown to the optimizer
    rep = out["report"]
    assert rep["anticipated"] == ["Which river flows through the city of Velmar?"]
    # the rule's passages (2 observed x 300), spread over the plan's 4 retrieval calls, cost per passage
    assert fake_tools.retrieval_k == [150] * 4 and rep["passage_budget"] == 600 and rep["cost_total"] == 2.0
    assert rep["cost_rule"].startswith("per passage") and "150, 150, 150, 150" in rep["cost_rule"]
    assert [c["cost"] for c in rep["api_calls"]] == [0.5] * 4


def test_passage_budget_zero_is_the_per_call_rule_and_a_set_budget_is_split_with_its_remainder_dropped(
        tmp_path, models, fake_tools):
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    rep = run(tmp_path / "a", anticipate=1, max_calls=6, passage_budget=0)["report"]
    assert fake_tools.retrieval_k == [300] * 4 and rep["cost_total"] == 4.0 and rep["cost_rule"].startswith("per call")
    assert rep["passage_budget"] is None
    rep = run(tmp_path / "b", anticipate=0, max_calls=6, passage_budget=100)["report"]  # 3 calls: 33 each
    assert fake_tools.retrieval_k[4:] == [33] * 3 and rep["cost_total"] == 0.33  # 3 x 33 / 300
    # a plan of fewer calls than the rule buys less, never more than retrieval_k a call
    rep = run(tmp_path / "c", anticipate=0, plan_observed=False, max_calls=6)["report"]
    assert fake_tools.retrieval_k[7:] == [300] and rep["cost_total"] == 1.0 and rep["passage_budget"] == 600


class RankedTools(FakeTools):
    """Retrieval over a shared ranking: every query's best passages are 0, 1, 2, ... (what two
    questions on one topic do to a real corpus), each with its corpus id; other APIs as FakeTools."""

    def __call__(self, name, arg, ctx):
        from tools.base import ToolResult

        if name != "information_retrieval":
            return super().__call__(name, arg, ctx)
        self.calls.append((name, arg))
        self.retrieval_k.append(ctx.retrieval_k)
        rows = [{"type": "document", "text": f"Passage {i} on {arg}.", "title": f"P{i}", "score": 1.0, "source": name,
                 "provenance": {"corpus": "c", "passage_id": i}} for i in range(ctx.retrieval_k)]
        return ToolResult(tool=name, arg=arg, cost=ctx.costs[name], rows=rows, provenance={}, latency_s=0.01)


def test_under_a_passage_budget_each_call_buys_passages_no_earlier_call_bought(tmp_path, models, monkeypatch):
    import tools

    optimizer, _, _ = models
    routed(optimizer, "none")
    ranked = RankedTools()
    monkeypatch.setattr(tools, "call_tool", ranked)
    out = run(tmp_path / "a", anticipate=0, max_calls=6, passage_budget=10)  # 2 observed calls: 5 passages each
    rep = out["report"]
    # the second call is ranked 5 deeper and keeps its next best 5: 10 distinct passages for the 10 charged
    assert ranked.retrieval_k == [5, 10] and rep["passages_bought"] == rep["passages_distinct"] == 10
    assert rep["cost_total"] == round(10 / 300, 4)
    rows = [json.loads(line) for line in (tmp_path / "a" / "run" / "dataset.jsonl").read_text().splitlines()]
    assert sorted(r["title"] for r in rows) == sorted(f"P{i}" for i in range(10))
    # off: both calls buy passages 0-4, the run is charged for 10 and holds 5
    rep = run(tmp_path / "b", anticipate=0, max_calls=6, passage_budget=10, distinct_passages=False)["report"]
    assert ranked.retrieval_k[2:] == [5, 5] and (rep["passages_bought"], rep["passages_distinct"]) == (10, 5)


def test_max_cost_holds_what_the_run_charges_under_a_passage_budget(tmp_path, models, fake_tools):
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    # the 4 retrieval calls share the rule's 600 passages: 2 in all, within --max-cost 2.5
    rep = run(tmp_path / "a", anticipate=1, max_calls=6, max_cost=2.5)["report"]
    assert len(fake_tools.calls) == 4 and rep["cost_total"] == 2.0
    assert not [d for d in rep["dropped_calls"] if "max-cost" in d.get("reason", "")]
    # the paper's per-call rule: 1 a call, the third would pass 2.5
    rep = run(tmp_path / "b", anticipate=1, max_calls=6, max_cost=2.5, passage_budget=0)["report"]
    assert len(fake_tools.calls) == 6 and rep["cost_total"] == 2.0
    assert [d["reason"] for d in rep["dropped_calls"]] == ["over --max-cost 2.5"] * 2


def test_the_optimizer_reads_retrievals_price_as_the_run_charges_it_and_refine_records_that_chat(tmp_path, models,
                                                                                                  fake_tools):
    from graph.improve.gather import optimizer_chat

    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')

    def planning_chat():
        return [m for m in optimizer.history if "APIs (each call costs" in m[0]["content"]][-1]

    out = run(tmp_path / "a", anticipate=1, max_calls=6)  # the rule's 600 passages, 2 x 300 at price 1
    asked = planning_chat()
    assert ('information_retrieval("query") [cost 2 in all, however many calls: this run\'s information_retrieval '
            'calls share 600 passages between them]:') in asked[0]["content"]
    assert out["report"]["cost_total"] == 2.0  # what the prompt said the retrievals would cost
    assert "demonstration_generation(\"topic\") [cost 2]:" in asked[0]["content"]  # other APIs: per call
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge",
                        run_dir=str(tmp_path / "a" / "run"), anticipate=1, max_calls=6, judge_reading="text")
    assert optimizer_chat(ctx, TASK) == asked  # one rendering of the chat
    out = run(tmp_path / "b", anticipate=1, max_calls=6, passage_budget=0)  # the paper's per-call rule
    assert 'information_retrieval("query") [cost 1]:' in planning_chat()[0]["content"]
    assert out["report"]["cost_total"] == 4.0


def test_the_reply_is_not_asked_where_the_plan_fills_max_calls(tmp_path, models, fake_tools):
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    rep = run(tmp_path, anticipate=1, max_calls=3)["report"]  # 2 observed + 1 anticipated = 3 calls
    assert fake_tools.calls == [("information_retrieval", TASK["observed"][0]),
                                ("information_retrieval", TASK["observed"][1]),
                                ("information_retrieval", "Which river flows through the city of Velmar?")]
    assert not any("APIs (each call costs" in m[0]["content"] for m in optimizer.history)  # asked to anticipate only
    assert rep["reply_not_asked"].startswith("the plan's 3 calls") and rep["optimizer_attempts"] == 1
    assert "optimizer's reply not asked: the plan's 3 calls" in (tmp_path / "run" / "report.md").read_text()
    rep = run(tmp_path / "b", anticipate=1, max_calls=4)["report"]  # room for one call of its own: asked and bought
    assert rep["reply_not_asked"] is None and fake_tools.calls[-1] == ("information_retrieval", "Zorbia")


def test_expand_queries_appends_each_anticipated_question_to_its_nearest_observed_one():
    from graph.optimizer import expand_queries

    observed = ["who wrote the declaration of independence", "when did the berlin wall fall"]
    queries, alone = expand_queries(observed, ["who signed the declaration of independence first",
                                               "why did the berlin wall go up"], 500)
    assert queries == ["who wrote the declaration of independence who signed the declaration of independence first",
                       "when did the berlin wall fall why did the berlin wall go up"] and alone == []
    # a question that would take its query past the argument limit is asked alone, not cut
    queries, alone = expand_queries(observed, ["who signed the declaration of independence first"], 60)
    assert queries == observed and alone == ["who signed the declaration of independence first"]


def test_anticipated_queries_expand_buys_the_rules_calls_drawn_toward_the_anticipated_question(tmp_path, models,
                                                                                                fake_tools):
    """anticipated_queries=expand: the anticipated question joins the query of the observed
    instruction most like it, so the plan costs the retrieval rule's calls (plus its own)."""
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    out = run(tmp_path, anticipate=1, max_calls=6, anticipated_queries="expand")
    assert fake_tools.calls == [("information_retrieval", TASK["observed"][0]),
                                ("information_retrieval", f"{TASK['observed'][1]} Which river flows through the city of Velmar?"),
                                ("information_retrieval", "Zorbia")]
    rep = out["report"]
    assert rep["anticipated"] == ["Which river flows through the city of Velmar?"] and rep["cost_total"] == 2.0
    assert "appended to the retrieval query" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(ConfigError, match="plan_observed"):  # nothing to append to without the rule's calls
        Context.build(anticipated_queries="expand", plan_observed=False)


def test_an_optimizer_that_anticipates_nothing_buys_the_observed_questions_and_its_own_calls(tmp_path, models,
                                                                                           fake_tools):
    """``none`` (what refine teaches where the rule's plan won) is never a call."""
    optimizer, _, _ = models
    plan = 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>'
    optimizer.respond = lambda m: "1. Instruction: none\n1. Input:\n<noinput>\n###" if "Write one more question" in m[-1]["content"] else plan
    out = run(tmp_path, anticipate=1, max_calls=6)
    assert fake_tools.calls == [("information_retrieval", o) for o in TASK["observed"]] + [("information_retrieval", "Zorbia")]
    assert out["report"]["anticipated"] == [] and out["report"]["cost_total"] == 2.0  # 600 passages over 3 calls


def test_an_anticipated_question_off_the_tasks_topic_is_dropped_and_the_next_on_topic_one_kept(tmp_path, models,
                                                                                                fake_tools):
    """The 135M optimizer's samples hold junk ("what is the meaning of life" on a task about law);
    one whose cosine to every observed question is under anticipate_min_similarity is not bought,
    nor one holding the generator's <noinput> marker; the next sample on the topic takes its place."""
    from graph.improve.curate import relevance_scores
    from llms.embeddings import load_embedder

    optimizer, _, _ = models
    plan = 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>'
    junk, marker = "What is the best way to prepare for a job interview?", "<noinput> A: The answer is no, it is not."
    on_topic = "Which country has Quxton as its capital city?"
    block = "1. Instruction: {}\n1. Input:\n<noinput>\n###"
    low, high = relevance_scores([{"instruction": junk}, {"instruction": on_topic}], TASK["observed"],
                                 load_embedder(Context().embedder).encode)
    assert low < 0.3 <= high  # the real embedder tells them apart
    for setting, bought in ((0.3, [on_topic]), (0.0, [junk])):
        samples = iter([block.format(junk), block.format(marker), block.format(on_topic)])
        optimizer.respond = lambda m: next(samples) if "Write one more question" in m[-1]["content"] else plan
        out = run(tmp_path / str(setting), anticipate=1, max_calls=6, generation_cache=False,
                  anticipate_min_similarity=setting)
        assert out["report"]["anticipated"] == bought
        reasons = {d["question"]: d["reason"] for d in out["report"]["anticipated_dropped"]}
        assert reasons[marker].startswith("holds the generator's <noinput> marker")
        if setting:
            assert reasons[junk].startswith(f"off the task's topic: similarity {low:.2f}")
        listed = f"off the task's topic, not bought: {junk} (similarity {low:.2f}"
        assert (listed in (tmp_path / str(setting) / "run" / "report.md").read_text()) == bool(setting)
    with pytest.raises(ConfigError, match="anticipate_min_similarity"):
        Context.build(anticipate_min_similarity=1.5)


def test_most_samples_saying_none_is_one_decision_to_anticipate_nothing(tmp_path, models, fake_tools):
    """The 3n samples of the anticipation decide together: a question among mostly ``none`` is not
    bought; a ``none`` among mostly questions leaves the questions."""
    optimizer, _, _ = models
    plan = 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>'
    none = "1. Instruction: none\n1. Input:\n<noinput>\n###"
    for answers, bought in (([none, none, ANTICIPATED], []), ([none, ANTICIPATED, ANTICIPATED], [ANTICIPATED])):
        samples = iter(answers)
        optimizer.respond = lambda m: next(samples) if "Write one more question" in m[-1]["content"] else plan
        fake_tools.calls.clear()
        out = run(tmp_path / str(len(bought)), anticipate=1, max_calls=6, generation_cache=False)
        questions = ["Which river flows through the city of Velmar?"] if bought else []
        assert out["report"]["anticipated"] == questions
        assert fake_tools.calls == [("information_retrieval", o) for o in TASK["observed"]] + \
            [("information_retrieval", q) for q in questions] + [("information_retrieval", "Zorbia")]


def test_an_anticipated_question_ends_where_the_optimizer_ran_on_into_the_next_block(tmp_path, models, fake_tools):
    from graph.improve.gather import own_text

    assert own_text("what is the capital of usa\n4. Output: <noinput>") == "what is the capital of usa"
    assert own_text("Write a poem about rain. 4. Output: <noinput> 5. Instruction: x") == "Write a poem about rain."
    assert own_text("Give 3 reasons, in 2 paragraphs.") == "Give 3 reasons, in 2 paragraphs."
    assert own_text("4. Input: <noinput>") == ""  # only the next block's marker (NQ validation, seed 0): nothing
    optimizer, _, _ = models
    plan = 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>'
    ran_on = "1. Instruction: Which river flows through the city of Velmar?\n1. Output: <noinput>\n2. Instruction: x\n###"
    optimizer.respond = lambda m: ran_on if "Write one more question" in m[-1]["content"] else plan
    out = run(tmp_path, anticipate=1, max_calls=6)
    assert out["report"]["anticipated"] == ["Which river flows through the city of Velmar?"]
    assert ("information_retrieval", "Which river flows through the city of Velmar?") in fake_tools.calls


def test_a_task_without_answers_gets_only_the_optimizers_own_calls(tmp_path, models, fake_tools):
    optimizer, _, _ = models
    routed(optimizer, 'Facts needed.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    task = {**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]}
    run(tmp_path, task=task, anticipate=1, judge_mode="pairwise")
    assert fake_tools.calls == [("information_retrieval", "Zorbia")]


def test_a_copied_example_call_is_rejected_and_the_optimizer_asked_again(tmp_path, models, fake_tools):
    optimizer, _, _ = models
    optimizer.script('Cricket facts.\n<api_calls><api>information_retrieval("Leg before wicket")</api></api_calls>',
                     'Zorbia facts.\n<api_calls><api>information_retrieval("Zorbia")</api></api_calls>')
    out = run(tmp_path, anticipate=0, plan_observed=False)
    assert fake_tools.calls == [("information_retrieval", "Zorbia")]
    second = optimizer.history[1][-1]["content"]
    assert "copied the example's calls" in second and "Leg before wicket" in second
    assert out["report"]["copied_calls_rejected"] == 1


def test_a_copied_call_left_after_the_retries_is_not_bought(tmp_path, models, fake_tools):
    optimizer, _, _ = models
    copied = 'Sport.\n<api_calls><api>demonstration_generation("explaining the rules of a sport")</api></api_calls>'
    optimizer.respond = lambda messages: copied
    out = run(tmp_path, anticipate=0, plan_observed=False, parse_retries=1)
    assert fake_tools.calls == []
    reasons = [d["reason"] for d in out["report"]["dropped_calls"] if d.get("arg")]
    assert reasons == ["copied from an example in the optimizer's prompt, not from this task (not bought)"]
    assert out["report"]["copied_calls_rejected"] == 2


def rows():
    doc = {"type": "document", "title": "Zorbia", "text": FACTS["Zorbia"]}
    right = {"type": "demonstration", "instruction": "What is the capital of Zorbia?", "response": "The capital is Quxton."}
    wrong = {"type": "demonstration", "instruction": "What is the capital of Zorbia?",
             "response": "The capital of Zorbia is Malgrad, founded in 1204."}
    fmt = {"type": "demonstration", "instruction": "Answer in one sentence.", "response": "Sure, here is one short sentence."}
    qa = {"type": "qa", "instruction": "Who rules Zorbia?", "response": "King Omar rules it.",
          "provenance": {"grounded_in": ["Zorbia"], "teacher": None}}
    return [doc, right, wrong, fmt, qa]


def test_grounding_drops_a_row_stating_facts_no_bought_passage_holds():
    ctx = Context(grounding="on")
    kept, dropped = grounded(rows(), ctx)
    assert [r.get("response") or r.get("text") for r in kept] == [
        FACTS["Zorbia"], "The capital is Quxton.", "Sure, here is one short sentence.", "King Omar rules it."]
    [(row, why)] = dropped
    assert row["response"].startswith("The capital of Zorbia is Malgrad")
    assert why == "states facts found in no passage the run bought: Malgrad, 1204"
    assert grounded(rows(), Context(grounding="off")) == (rows(), [])


def test_fact_terms_are_names_and_numbers_not_sentence_openers():
    assert fact_terms("The war ended in 1945. Paris was freed by Allied troops; It was over.") == ["1945", "Paris", "Allied"]
    assert fact_terms("Malgrad is the capital.") == ["Malgrad"]


def test_grounding_is_on_where_items_carry_answers_and_its_drops_are_reported(tmp_path, models, fake_tools):
    optimizer, policy, _ = models
    routed(optimizer, 'Facts.\n<api_calls><api>information_retrieval("Zorbia")</api>'
                      '<api>demonstration_generation("Zorbia")</api></api_calls>')
    fake_tools_demo = FakeTools.__call__

    def tool(self, name, arg, ctx):
        res = fake_tools_demo(self, name, arg, ctx)
        if name == "demonstration_generation":
            res.rows = [{"type": "demonstration", "instruction": "What is Zorbia's capital?",
                         "response": "Zorbia's capital is Malgrad.", "source": name, "provenance": res.provenance}]
        return res

    FakeTools.__call__, saved = tool, FakeTools.__call__
    try:
        out = run(tmp_path, anticipate=0, plan_observed=False)
        pairwise = run(tmp_path / "judge", task={**TASK, "held_out": [h["instruction"] for h in TASK["held_out"]]},
                       anticipate=0, plan_observed=False, judge_mode="pairwise")
    finally:
        FakeTools.__call__ = saved
    steps = {s["step"]: s for s in out["report"]["curation"]}
    assert steps["grounded"]["dropped"] == 1
    assert steps["grounded"]["examples"][0]["reason"] == "states facts found in no passage the run bought: Malgrad"
    assert {s["step"]: s for s in pairwise["report"]["curation"]}["grounded"]["dropped"] == 0  # no answers: not checked


def test_coverage_counts_questions_with_a_bought_row_and_an_answer_in_it(tmp_path, models, fake_tools, monkeypatch):
    """icl-knn with a word-overlap encoder: both Zorbia and Quxland questions find their passage,
    the Narnia question finds none; the two contexts hold the accepted answers."""
    import numpy as np

    import llms.embeddings as emb

    vocab = ["zorbia", "quxland", "narnia", "capital"]

    class Words:
        def encode(self, texts):
            v = np.array([[float(w in t.lower()) for w in vocab[:3]] + [0.1] for t in texts], dtype=np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setattr(emb, "load_embedder", lambda spec=None: Words())
    optimizer, _, _ = models
    routed(optimizer, '<api_calls><api>information_retrieval("Zorbia")</api><api>information_retrieval("Quxland")</api></api_calls>')
    out = run(tmp_path, anticipate=0, plan_observed=False, update="icl-knn")
    assert out["report"]["coverage"] == {"items": 3, "with_context": 2, "with_answers": 3, "answer_in_context": 2,
                                         "unsupported": 0}  # both answers with a context draw on it
