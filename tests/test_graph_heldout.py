"""The held-out measurement: an item the updated policy is asked unchanged keeps the original answer."""

from __future__ import annotations

from collections import Counter

from graph.context import Context
from graph.heldout import measure, measure_many, original_answers

HELD = [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
        {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}]
RIGHT = {"Which city is Zorbia's capital?": "Quxton.", "What is the capital of Narnia?": "Cair Paravel."}


def flaky_policy(fake_llm):
    """Right the first time it sees a prompt, wrong after: as a batch of another shape can flip a greedy answer."""
    seen = Counter()
    policy = fake_llm("policy")

    def respond(msgs):
        text = msgs[-1]["content"]
        seen[text] += 1
        if "Here is some information" in text:
            return "Quxton." if "Zorbia" in text.splitlines()[-1] else "I do not know."
        return RIGHT[text] if seen[text] == 1 else "I do not know."

    policy.respond = respond
    return policy


def ctx_for(tmp_path) -> Context:
    return Context.build(policy="fake:policy", judge="fake:judge", judge_mode="verify", generation_cache=False,
                         cache_path=str(tmp_path / "c.sqlite"))


def test_an_item_asked_unchanged_keeps_the_original_answer(tmp_path, fake_llm):
    policy = flaky_policy(fake_llm)
    ctx = ctx_for(tmp_path)
    original = original_answers(ctx, HELD)
    asked = len(policy.history)

    nothing = {"kind": "icl", "policy": "fake:policy", "context": ""}  # no context: the bare instruction again
    m = measure(ctx, HELD, nothing, original=original)
    assert len(policy.history) == asked  # the policy was not asked again
    assert m["accuracy"]["gained"] == m["accuracy"]["lost"] == 0 and m["summary"]["tie"] == 2
    assert [r["updated"] for r in m["records"]] == original

    # without the original passed in, measure computes it once and still reuses it for the unchanged items
    m = measure(ctx, HELD, nothing)
    assert m["summary"]["tie"] == 2 and m["accuracy"]["lost"] == 0


def test_changed_prompts_and_other_models_are_asked(tmp_path, fake_llm):
    policy = flaky_policy(fake_llm)
    fake_llm("adapter").respond = lambda msgs: "I do not know."
    ctx = ctx_for(tmp_path)
    original = original_answers(ctx, HELD)
    asked = len(policy.history)

    with_context = {"kind": "icl", "policy": "fake:policy", "context": "[1] Zorbia\nZorbia's capital is Quxton."}
    nothing = {"kind": "icl", "policy": "fake:policy", "context": ""}
    trained = {"kind": "sft", "policy": "fake:adapter"}
    with_ctx, bare, sft = measure_many(ctx, HELD, [with_context, nothing, trained], original=original)
    assert len(policy.history) == asked + 2  # the two context prompts, each once; the bare ones never
    assert bare["winners"] == ["tie", "tie"] and bare["accuracy"]["lost"] == 0
    assert with_ctx["accuracy"]["lost"] == 1  # the packed context really was asked (and really hurt Narnia)
    assert sft["accuracy"]["lost"] == 2  # another model is always asked, even with the bare instruction


class TopicEmbedder:
    """Unit vectors by topic: Zorbia, Narnia, anything else."""

    def encode(self, texts):
        import numpy as np

        return np.array([[1.0, 0.0, 0.0] if "Zorbia" in t else [0.0, 1.0, 0.0] if "Narnia" in t else [0.0, 0.0, 1.0]
                         for t in texts])


def test_an_answer_its_context_does_not_support_falls_back_to_the_bare_answer(tmp_path, fake_llm, monkeypatch):
    import llms.embeddings

    monkeypatch.setattr(llms.embeddings, "load_embedder", lambda spec=None: TopicEmbedder())
    policy = fake_llm("policy")

    def respond(msgs):
        text = msgs[-1]["content"]
        if "[1]" not in text:  # asked bare
            return RIGHT[text]
        if "Zorbia" in text.splitlines()[-1]:
            return "Quxton is the capital of Zorbia."  # drawn from its passage
        return "You've already provided a comprehensive overview of this fine kingdom."  # talks about the passage

    policy.respond = respond
    rows = [{"type": "document", "title": "Zorbia", "text": "Zorbia's capital is Quxton, on the river."},
            {"type": "document", "title": "Narnia", "text": "Narnia is a land in the books, ruled from a castle."}]
    ctx = ctx_for(tmp_path)
    original = original_answers(ctx, HELD)
    gated = {"kind": "icl-knn", "policy": "fake:policy", "rows": rows, "token_budget": 200, "min_similarity": 0.9,
             "max_rows": 1, "min_overlap": 0.0, "min_context_overlap": 0.0, "min_answer_support": 0.3}
    m = measure(ctx, HELD, gated, original=original)
    zorbia, narnia = m["records"]
    assert zorbia["updated"] == "Quxton is the capital of Zorbia." and "unsupported" not in zorbia
    assert narnia["updated"] == "Cair Paravel." and narnia["unsupported"].startswith("You've already")  # bare, not re-asked
    assert m["accuracy"]["lost"] == 0 and m["coverage"]["unsupported"] == 1 and m["coverage"]["with_context"] == 2

    off = measure(ctx, HELD, {**gated, "min_answer_support": 0.0}, original=original)
    assert off["records"][1]["updated"].startswith("You've already") and off["accuracy"]["lost"] == 1
    assert "unsupported" not in off["coverage"]


def test_answer_support_counts_the_answers_own_words_found_in_its_prompt():
    from trainers.update import answer_support

    prompt = "[1] Zorbia\nZorbia's capital is Quxton, on the river Vell.\n\nWhich city is Zorbia's capital?"
    assert answer_support("Which city is Zorbia's capital?", "Quxton, on the Vell.", prompt) == 1.0
    assert answer_support("Which city is Zorbia's capital?", "Quxton, by the sea.", prompt) == 0.5  # quxton yes, sea no
    assert answer_support("Which city is Zorbia's capital?", "Zorbia's capital.", prompt) == 0.0  # adds nothing of its own
