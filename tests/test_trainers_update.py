"""trainers/update.py: an update from curated rows, and the prompts the updated policy is asked with."""

from __future__ import annotations

import pytest

from graph.prompts import ICL_DOCUMENT, ICL_EXAMPLE, ICL_PROMPT
from trainers.update import prompts_for, update_policy

ROWS = [{"type": "document", "title": "Zorbia", "text": "Zorbia's capital is Quxton.", "score": 0.2},
        {"type": "qa", "instruction": "Capital of Quxland?", "response": "Velmar.", "score": 0.9}]
TEMPLATES = {"document_template": ICL_DOCUMENT, "example_template": ICL_EXAMPLE}


def words(text: str) -> int:
    return len(text.split())


def test_icl_packs_best_scored_first_and_asks_with_the_icl_prompt():
    updated = update_policy("icl", ROWS, policy="fake:p", count_tokens=words, icl_token_budget=100,
                            score=lambda r: r["score"], **TEMPLATES)
    assert updated["rows_used"] == 2 and updated["context"].startswith("[1] Instruction: Capital of Quxland?")
    spec, prompts = prompts_for(updated, ["Where is Zorbia?"], ICL_PROMPT)
    assert spec == "fake:p" and "Zorbia's capital is Quxton." in prompts[0] and prompts[0].endswith("Where is Zorbia?")
    tight = update_policy("icl", ROWS, policy="fake:p", count_tokens=words, icl_token_budget=8, **TEMPLATES)
    assert tight["rows_used"] == 1 and tight["rows_dropped"] == 1 and tight["tokens"] <= 8


def test_sft_without_rows_leaves_the_policy_and_sft_asks_plainly():
    updated = update_policy("sft", [], policy="fake:p")
    assert updated["policy"] == "fake:p" and "nothing to train" in updated["note"]
    assert prompts_for({"kind": "sft", "policy": "fake:p+a"}, ["q"], ICL_PROMPT) == ("fake:p+a", ["q"])


def test_sft_trains_an_adapter_and_names_the_updated_policy(tmp_path, monkeypatch):
    import trainers.sft

    seen = {}
    monkeypatch.setattr(trainers.sft, "run_sft", lambda cfg, rows, out, base, recipe=None: seen.update(
        rows=rows, out=out, base=base, recipe=recipe) or out / "adapter")
    updated = update_policy("sft", ROWS, policy="local:x", out_dir=tmp_path, recipe="r.yaml")
    assert updated["policy"] == f"local:x+{tmp_path / 'adapter'}" and seen["recipe"] == "r.yaml" and seen["rows"] == ROWS


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown update 'rlhf'"):
        update_policy("rlhf", ROWS, policy="p")


def test_icl_knn_gives_each_question_only_the_rows_that_resemble_it():
    import numpy as np

    def encode(texts):  # toy unit vectors by topic
        return np.array([[1.0, 0.0] if "Zorbia" in t else [0.0, 1.0] if "Quxland" in t else [0.6, 0.8] for t in texts])

    updated = update_policy("icl-knn", ROWS, policy="fake:p", icl_token_budget=100, min_similarity=0.9)
    assert updated["kind"] == "icl-knn" and updated["rows_used"] == 2
    spec, prompts = prompts_for(updated, ["Where is Zorbia?", "Capital of Quxland, please?", "Write a poem."], ICL_PROMPT,
                                encode=encode, count_tokens=words, **TEMPLATES)
    assert "Quxton" in prompts[0] and "Velmar" not in prompts[0]
    assert "Velmar" in prompts[1] and "Quxton" not in prompts[1]
    assert prompts[2] == "Write a poem."  # nothing resembles it: asked with no context at all
    with pytest.raises(ValueError, match="icl-knn prompts need encode"):
        prompts_for(updated, ["q"], ICL_PROMPT)


def test_icl_knn_min_overlap_keeps_out_a_row_that_names_none_of_the_questions_terms():
    import numpy as np

    rows = [{"type": "document", "title": "Zorbia", "text": "Zorbia's capital is Quxton, on the river Vel."},
            {"type": "document", "title": "Zorbian cuisine", "text": "Dumplings and soups are eaten in winter."}]

    def encode(texts):  # both passages look alike to the embedder, and like the question
        return np.array([[1.0, 0.0] for _ in texts])

    question = "What is the capital of Zorbia?"
    loose = update_policy("icl-knn", rows, policy="fake:p", icl_token_budget=200, min_similarity=0.5)
    strict = update_policy("icl-knn", rows, policy="fake:p", icl_token_budget=200, min_similarity=0.5, min_overlap=0.5)
    (_, [wide]), (_, [narrow]) = (prompts_for(u, [question], ICL_PROMPT, encode=encode, count_tokens=words, **TEMPLATES)
                                  for u in (loose, strict))
    assert "Dumplings" in wide and "Quxton" in wide
    # "capital" and "zorbia" are in the first passage (2 of 2 content words); the second holds neither
    assert "Quxton" in narrow and "Dumplings" not in narrow
    from trainers.update import content_words, overlap

    assert content_words(question) == {"capital", "zorbia"} and overlap(question, {"zorbia"}) == 0.5


def test_icl_knn_min_context_overlap_asks_bare_where_the_packed_context_names_too_few_of_the_questions_terms():
    import numpy as np

    rows = [{"type": "document", "title": "Zorbia", "text": "Zorbia lies on the river Vel."},
            {"type": "document", "title": "Quxton", "text": "Quxton has a cathedral and a port."}]

    def encode(texts):  # every passage looks like every question to the embedder
        return np.array([[1.0, 0.0] for _ in texts])

    near = "What is the capital of Zorbia?"  # content words: capital, zorbia; the context holds zorbia only
    named = "Which river crosses Zorbia?"  # river, crosses, zorbia: river and zorbia are held
    gated = update_policy("icl-knn", rows, policy="fake:p", icl_token_budget=200, min_similarity=0.5,
                          min_context_overlap=0.6)
    _, (bare, kept) = prompts_for(gated, [near, named], ICL_PROMPT, encode=encode, count_tokens=words, **TEMPLATES)
    assert bare == near  # 1 of 2 terms < 0.6: no context at all
    assert "river Vel" in kept and "cathedral" in kept  # 2 of 3 >= 0.6: the whole packed context stays
    off = update_policy("icl-knn", rows, policy="fake:p", icl_token_budget=200, min_similarity=0.5)
    _, (with_context, _) = prompts_for(off, [near, named], ICL_PROMPT, encode=encode, count_tokens=words, **TEMPLATES)
    assert "river Vel" in with_context and gated["min_context_overlap"] == 0.6 and off["min_context_overlap"] == 0.0


def test_nearest_rows_ranks_by_similarity_above_the_floor_and_keeps_at_most_max_rows():
    import numpy as np

    from trainers.update import nearest_rows

    rows = [{"type": "document", "title": t, "text": f"{t} facts."} for t in ("Far", "Near", "Nearest", "Mid")]
    angle = {"Far": 1.2, "Near": 0.4, "Nearest": 0.1, "Mid": 0.6}  # radians from the question

    def encode(texts):
        return np.array([[np.cos(a), np.sin(a)] for a in (angle.get(t.split(".")[0], 0.0) for t in texts)])

    updated = {"rows": rows, "min_similarity": 0.5, "max_rows": 2}
    [ranked] = nearest_rows(updated, ["question"], encode=encode)
    assert [r["title"] for r in ranked] == ["Nearest", "Near"]  # Mid (cos 0.83) is cut by max_rows, Far (0.36) by the floor
    assert ranked[0]["knn_similarity"] == pytest.approx(np.cos(0.1)) and "knn_similarity" not in rows[0]
    [everything] = nearest_rows({**updated, "max_rows": None}, ["question"], encode=encode)
    assert [r["title"] for r in everything] == ["Nearest", "Near", "Mid"]
    assert nearest_rows({"rows": []}, ["a", "b"], encode=encode) == [[], []]
    from trainers.update import nearest_contexts

    def unused(texts):
        raise AssertionError("rows already ranked are not embedded again")

    [context] = nearest_contexts({**updated, "token_budget": 100}, ["question"], encode=unused, count_tokens=words,
                                 near=[ranked], **TEMPLATES)
    assert "Nearest facts." in context and "Near facts." in context and "Mid" not in context
