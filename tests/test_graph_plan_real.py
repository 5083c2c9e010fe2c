"""Making the update help, on the real SmolLM2, MiniLM and corpus: a demonstration stating a fact
that no bought passage holds is dropped with its reason, and the report's coverage matches a
count made by hand from the run's own dataset."""

from __future__ import annotations

import json

import numpy as np
from langgraph.checkpoint.memory import InMemorySaver

from graph.context import Context
from graph.improve.curate import grounded
from graph.improve.graph import builder
from graph.tasks.load import load_task
from scoring.verify import qa_match


def test_a_demonstration_stating_a_wrong_fact_is_dropped_with_its_reason(smollm, corpus, tmp_path):
    from tools import call_tool

    ctx = Context(cache_path=str(tmp_path / "c.sqlite"))
    docs = call_tool("information_retrieval", "Jupiter", ctx).rows
    assert len(docs) == 10 and any("Jupiter" in d["text"] for d in docs)  # outside a task: auto is 10 a call
    wrong = {"type": "demonstration", "instruction": "Who first mapped the Great Red Spot of Jupiter?",
             "response": "The Great Red Spot was first mapped by Professor Quentin Vortigan in 1721."}
    right = {"type": "demonstration", "instruction": "Which planet is the largest?",
             "response": "Jupiter is the largest planet in the Solar System."}
    kept, dropped = grounded(docs + [wrong, right], ctx.replace(grounding="on"))
    assert right in kept and wrong not in kept
    [(row, why)] = dropped
    assert row is wrong and why.startswith("states facts found in no passage the run bought:")
    assert "Vortigan" in why and "1721" in why and "Jupiter" not in why


def test_coverage_of_a_small_real_run_matches_a_hand_count(smollm, corpus, tmp_path):
    task = load_task("tasks/planets.yaml", max_held_out=6)
    ctx = Context(run_dir=str(tmp_path / "run"), cache_path=str(tmp_path / "c.sqlite"), memory_path=str(tmp_path / "m"),
                  eval_max_new_tokens=24, curation=["dedupe"])
    plan = [{"name": "information_retrieval", "arg": "Jupiter"}, {"name": "information_retrieval", "arg": "Mars"}]
    out = builder.compile(checkpointer=InMemorySaver()).invoke(
        {**task, "plan": plan}, {"configurable": {"thread_id": "t"}, "recursion_limit": 60}, context=ctx)
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    from llms.embeddings import load_embedder

    enc = load_embedder(ctx.embedder).encode
    texts = [f"{r.get('title') or ''}. {r.get('text') or ''}" for r in rows]
    sims = np.asarray(enc([h["instruction"] for h in task["held_out"]])) @ np.asarray(enc(texts)).T
    from trainers.update import content_words

    def share(question, text):  # of the question's content words, the share the text holds
        q = content_words(question)
        return len(q & content_words(text)) / len(q) if q else 1.0

    with_context = answer_in = 0
    for item, row_sims in zip(task["held_out"], sims):
        near = sorted(((s, i) for i, s in enumerate(row_sims) if s >= ctx.knn_min_similarity
                       and share(item["instruction"], texts[i]) >= ctx.knn_min_overlap), reverse=True)[:ctx.knn_rows]
        held = " ".join(f"{rows[i].get('title') or ''} {rows[i]['text']}" for _, i in near)
        if near and share(item["instruction"], held) >= ctx.knn_context_overlap:
            with_context += 1
            answer_in += qa_match(held, item["answers"])
    coverage = dict(out["report"]["coverage"])
    unsupported = coverage.pop("unsupported")  # answers given without their context (knn_answer_support)
    assert coverage == {"items": 6, "with_context": with_context, "with_answers": 6, "answer_in_context": answer_in}
    records = json.loads((tmp_path / "run" / "trajectory.json").read_text())["evaluation"]["records"]
    assert unsupported == sum("unsupported" in r for r in records) <= with_context
    assert with_context > 0
    # planets' held-out items carry answers: the plan's 2 calls share the retrieval rule's passages
    # (3 observed x the knowledge breadth 300), at most 300 a call (as many as BM25 gives candidates
    # for a one-word query), more than the 10 a call elsewhere; each costs 1 (300 / 300). The second
    # call buys none of the first's passages (distinct_passages): its next best in their place
    from tools.corpus import ensure_corpus
    from tools.retrieval import search

    corpus = ensure_corpus(ctx.corpus)
    first = {h.id for h in search(corpus, "Jupiter", k=300, candidates=ctx.bm25_candidates)}
    second = [h.id for h in search(corpus, "Mars", k=300 + len(first), candidates=ctx.bm25_candidates) if h.id not in first][:300]
    bought = [r["provenance"]["passage_id"] for r in rows if r.get("type") == "document"]
    assert sorted(bought) == sorted(first | set(second)) and second and len(first) + len(second) > 20
    assert out["report"]["passages_bought"] == out["report"]["passages_distinct"] == len(first) + len(second)
    assert "retrieval calls: 300, 300" in out["report"]["cost_rule"]
    assert out["report"]["cost_total"] == 2.0


def test_a_copied_example_call_is_rejected_and_the_real_optimizer_asked_again(smollm, corpus, tmp_path, monkeypatch):
    """The optimizer's first reply copies an example call of its real prompt (what SmolLM2 did on
    tasks unrelated to sport); the copy is not bought and the real model is asked again, told which
    calls it copied."""
    import graph.improve.gather as gather
    import llms
    from graph.nodes import load_model
    from tools.parse import parse_api_calls

    ctx = Context(run_dir=str(tmp_path / "run"), cache_path=str(tmp_path / "c.sqlite"), memory_path=str(tmp_path / "m"),
                  eval_max_new_tokens=16, max_new_tokens=96, anticipate=0, plan_observed=False, max_calls=2,
                  curation=["dedupe"])
    name, arg = parse_api_calls(ctx.prompt("OPTIMIZER_EXAMPLE_A_REPLY")).calls[1]  # "Leg before wicket"
    copied = f"The task needs facts.\n<api_calls><api>{name}(\"{arg}\")</api></api_calls>"
    asked = []

    class FirstReplyCopies:  # the real optimizer, whose first planning reply is the copy
        def __init__(self, real):
            self.real = real

        def generate(self, prompts, params=None, **kw):
            asked.append(prompts[0][-1]["content"])
            if len(asked) == 1:
                return [[llms.Generation(text=copied)]]
            return self.real.generate(prompts, params, **kw)

    def loader(c, spec):
        model = load_model(c, spec)
        return FirstReplyCopies(model) if spec == c.optimizer else model

    monkeypatch.setattr(gather, "load_model", loader)
    task = load_task("tasks/planets.yaml", max_held_out=2)
    app, config = builder.compile(checkpointer=InMemorySaver()), {"configurable": {"thread_id": "t"}, "recursion_limit": 60}
    report = app.invoke(task, config, context=ctx)["report"]
    out = app.get_state(config).values
    log = out["parse_log"]
    assert log[0]["copied"] == [[name, arg]] and log[0]["retry"]
    assert len(asked) >= 2 and "copied the example's calls" in asked[1] and arg in asked[1]
    assert out["optimizer_replies"][1]["text"].strip() and out["optimizer_replies"][1]["text"] != copied  # the real model
    assert report["copied_calls_rejected"] >= 1
    assert (name, arg) not in {(r["tool"], r["arg"]) for r in out.get("results") or []}  # never bought
