"""Edits toward a check (scoring.edit): the form a check prescribes, written into a sample that
missed it, and kept only when lm-eval's real checkers then pass it."""

from __future__ import annotations

import json

import pytest

from graph.context import Context
from scoring.edit import EDITS, edit_toward, editable
from scoring.rejection import Sampled
from scoring.verify import failed_checks

PROMPT = "Write about the harbour at night."
TEXT = ("The harbour is quiet at night, and the boats rock slowly. Lights shine on the water. "
        "A gull calls from the pier. The fishermen sleep until dawn.")

FORMS = [
    [{"id": "startend:quotation"}],
    [{"id": "change_case:english_capital"}],
    [{"id": "change_case:english_lowercase"}],
    [{"id": "punctuation:no_comma"}],
    [{"id": "detectable_format:title"}],
    [{"id": "detectable_format:json_format"}],
    [{"id": "startend:end_checker", "kwargs": {"end_phrase": "Is there anything else I can help with?"}}],
    [{"id": "length_constraints:number_paragraphs", "kwargs": {"num_paragraphs": 3}}],
    [{"id": "detectable_format:multiple_sections", "kwargs": {"section_spliter": "SECTION", "num_sections": 2}}],
    [{"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": 4}}],
    [{"id": "detectable_format:number_highlighted_sections", "kwargs": {"num_highlights": 2}}],
    [{"id": "combination:repeat_prompt", "kwargs": {"prompt_to_repeat": PROMPT}}],
    [{"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 20}}],
    [{"id": "length_constraints:number_sentences", "kwargs": {"relation": "less than", "num_sentences": 3}}],
    [{"id": "change_case:english_lowercase"}, {"id": "punctuation:no_comma"}, {"id": "startend:quotation"}],
]


@pytest.mark.parametrize("checks", FORMS, ids=lambda cs: "+".join(c["id"].split(":")[1] for c in cs))
def test_an_edit_writes_the_form_the_real_checker_asks_for_and_keeps_the_words(checks):
    assert failed_checks(checks, TEXT, prompt=PROMPT)  # the sample misses the form
    text, done = edit_toward(checks, TEXT, prompt=PROMPT)
    assert done and set(done) <= {c["id"] for c in checks}
    assert failed_checks(checks, text, prompt=PROMPT) == []
    body = json.loads(text)["response"] if checks[0]["id"].endswith("json_format") else text
    assert "gull calls from the pier" in body.lower() or "harbour is quiet" in body.lower()  # the policy's own words


def test_a_check_without_an_edit_is_left_to_the_sample_and_a_passing_check_is_not_touched():
    keywords = [{"id": "keywords:existence", "kwargs": {"keywords": ["lighthouse"]}}]
    assert editable(keywords) == [] and edit_toward(keywords, TEXT, prompt=PROMPT) == (TEXT, [])
    lower = "the harbour is quiet at night and the boats rock slowly."
    assert edit_toward([{"id": "change_case:english_lowercase"}], lower) == (lower, [])
    # a structure that cannot be written (4 bullets from one sentence) is no edit
    assert edit_toward([{"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": 4}}],
                       "One sentence only.") == ("One sentence only.", [])
    assert set(editable([{"id": c} for c in EDITS])) == set(EDITS)


def test_sampled_keeps_an_edited_sample_only_where_it_then_passes_every_check():
    checks = [{"id": "startend:quotation"}, {"id": "keywords:existence", "kwargs": {"keywords": ["gull"]}}]
    answers = [TEXT, "The boats rock slowly in the dark harbour.", '"' + TEXT + '"']
    plain = Sampled(checks, answers, prompt=PROMPT)
    assert plain.passing == [2] and plain.edited == {} and plain.answers == answers
    edited = Sampled(checks, answers, prompt=PROMPT, edit=True)
    # sample 0 names the gull and only misses the quotation marks; sample 1 never names the gull
    assert edited.passing == [0, 2] and edited.edited == {0: ["startend:quotation"]}
    assert edited.answers[0] == '"' + TEXT + '"' and edited.answers[1] == answers[1]
    assert edited.failed == plain.failed  # the verdicts on the samples as written
    none = Sampled(checks[1:], ["No bird here."], edit=True)
    assert none.passing == [] and "edited toward them or not" in none.why()


def test_verified_demonstrations_with_check_edits_keep_edited_rows_and_count_them_apart(tmp_path, fake_llm):
    from tools import call_tool

    quote = [{"id": "startend:quotation"}]
    answers = ["The town is quiet tonight.", '"The town sleeps."', "The town is quiet tonight."]
    fake_llm("policy").script(*answers)
    off = call_tool("demonstration_generation", "Say that it is quiet, in quotation marks.",
                    Context(policy="fake:policy", cache_path=str(tmp_path / "a.sqlite"), verify_samples=3, check_edits=False),
                    checks=quote)
    assert [r["response"] for r in off.rows] == ['"The town sleeps."'] and "edited" not in off.provenance
    fake_llm("policy").script(*answers)
    on = call_tool("demonstration_generation", "Say that it is quiet, in quotation marks.",
                   Context(policy="fake:policy", cache_path=str(tmp_path / "a.sqlite"), verify_samples=3), checks=quote)
    assert not on.cached  # the setting (on by default) is part of the call's cache key
    # the two identical samples give one row; the edit is named in its provenance
    assert [r["response"] for r in on.rows] == ['"The town is quiet tonight."', '"The town sleeps."']
    assert on.rows[0]["provenance"]["edited"] == ["startend:quotation"] and "edited" not in on.rows[1]["provenance"]
    assert on.provenance["passed"] == 1 and on.provenance["pass_rate"] == round(1 / 3, 4) and on.provenance["edited"] == 2


def test_a_star_agents_candidate_takes_the_first_answer_that_passes_as_written_or_edited():
    from graph.star_agents.seed import verify_candidate

    lower = [{"id": "change_case:english_lowercase"}]
    plain, edited = {"instruction": "Name a colour."}, {"instruction": "Name a colour."}
    verify_candidate(plain, lower, ["Red Is A Colour.", "BLUE."])
    assert plain["status"] == "failed checks" and "change_case:english_lowercase x2" in plain["reason"]
    verify_candidate(edited, lower, ["Red Is A Colour.", "BLUE."], edit=True)
    assert edited["response"] == "red is a colour." and edited["edited"] == ["change_case:english_lowercase"]
