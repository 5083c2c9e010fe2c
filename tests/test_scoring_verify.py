"""Verifiers: NQ-open answer match, GSM8K final number, IFEval checks offline; on real rows."""

from __future__ import annotations

import json
import re
import sys

import pytest

from scoring import verify as V
from tests.conftest import ROOT


# -- QA ----------------------------------------------------------------------------------------------
def test_normalize_answer():
    assert V.normalize_answer("  The Eiffel-Tower!  ") == "eiffeltower"
    assert V.normalize_answer("An apple, a day") == "apple day"


def test_qa_match_contains_and_exact():
    assert V.qa_match("It was written by Bob Russell in 1969.", ["Bobby Scott", "Bob Russell"])
    assert not V.qa_match("It was written by Bob Russell.", ["Bob Russell"], mode="exact")
    assert V.qa_match("the Bob Russell", ["Bob Russell"], mode="exact")
    # whole words only: "one" is not inside "someone"
    assert not V.qa_match("someone knows", ["one"])
    with pytest.raises(ValueError):
        V.qa_match("x", ["x"], mode="fuzzy")


def test_nq_open_real_rows(shared_data):
    rows = [json.loads(line) for line in (shared_data / "nq-open" / "NQ-open.dev.jsonl").open()][:5]
    for row in rows:
        answer = row["answer"][0]
        assert V.verifier_of(row) == "qa"
        assert V.verify(row, f"I believe the answer is {answer}.") is True
        assert V.verify(row, "I do not know that.") is False
        assert V.verify(row, f"I believe the answer is {answer}.", mode="exact") is False
        assert V.verify(row, answer.upper(), mode="exact") is True


# -- math --------------------------------------------------------------------------------------------
def test_math_last_number():
    assert V.math_match("48/2 = 24, so 48 + 24 = 72 clips.", "... #### 72")
    assert not V.math_match("The answer is 72, or maybe 71", "#### 72")  # the last number counts
    assert V.math_match("She earned $1,250.", "#### 1250")
    assert V.math_match("x = -3.50", "#### -3.5")
    assert not V.math_match("no numbers here", "#### 4")
    assert V.math_match("So 10.", 10)
    with pytest.raises(ValueError, match="no gold number"):
        V.math_match("1", "#### none")


def test_gsm8k_real_rows(shared_data):
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "train.jsonl").open()][:5]
    for row in rows:
        gold = row["answer"].split("####")[-1].strip()
        assert V.verifier_of(row) == "math"
        assert V.verify(row, row["answer"].split("####")[0] + f"The answer is {gold}.") is True
        assert V.verify(row, f"The answer is {int(gold.replace(',', '')) + 1}.") is False


# -- IFEval ---------------------------------------------------------------------------------------
def test_ifeval_checks_pass_and_fail():
    words = {"id": "length_constraints:number_words", "kwargs": {"relation": "at least", "num_words": 8}}
    sentences = {"id": "length_constraints:number_sentences", "kwargs": {"relation": "less than", "num_sentences": 3}}
    caps = {"id": "change_case:capital_word_frequency", "kwargs": {"capital_relation": "at least", "capital_frequency": 2}}
    good = "Cats are SMALL and VERY curious animals. They sleep a lot."
    bad = "Cats. Are. Small. Animals."
    assert V.ifeval_checks([words, sentences, caps], good) == [True, True, True]
    assert V.ifeval_checks([words, sentences, caps], bad) == [False, False, False]
    item = {"instruction": "Describe cats.", "checks": [words, sentences]}
    assert V.verify(item, good) is True and V.verify(item, bad) is False
    with pytest.raises(ValueError, match="unknown IFEval check"):
        V.ifeval_checks([{"id": "nope:nothing", "kwargs": {}}], good)


def test_ifeval_prompt_dependent_check():
    # repeat_prompt needs the instruction: it is passed as IFEval's `prompt`
    check = {"id": "combination:repeat_prompt", "kwargs": {"prompt_to_repeat": "Say hello."}}
    assert V.verify({"instruction": "Say hello.", "checks": [check]}, "Say hello. Hello!") is True
    assert V.verify({"instruction": "Say hello.", "checks": [check]}, "Hello!") is False


def test_ifeval_loads_offline_without_lm_eval_tasks(spawn):
    """A fresh interpreter with no punkt data and no network: the checkers load and work, and
    neither lm_eval.tasks/__init__ (sacrebleu ...) nor an NLTK download ran."""
    code = (
        "import sys, nltk\n"
        "calls = []\n"
        "nltk.download = lambda *a, **k: calls.append(a) or False\n"
        "from scoring import verify as V\n"
        "ok = V.ifeval_checks([{'id': 'change_case:capital_word_frequency', 'kwargs': "
        "{'capital_relation': 'at least', 'capital_frequency': 2}}, {'id': 'length_constraints:number_sentences', "
        "'kwargs': {'relation': 'at least', 'num_sentences': 2}}], 'HELLO there. BIG world.')\n"
        "print(ok, calls, 'lm_eval.tasks' in sys.modules, len(V.ifeval_instruction_ids()))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "NLTK_DATA": "/nonexistent", "HOME": "/nonexistent", "HF_HUB_OFFLINE": "1"}
    out = spawn.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[True, True] [] False 25"


def test_verify_nothing_to_verify():
    assert V.verify({"instruction": "Write a poem."}, "roses") is None
    with pytest.raises(ValueError, match="unknown verifier"):
        V.verify({"verifier": "bleu", "answers": ["x"]}, "x")


def test_ifeval_native_format():
    item = {"prompt": "Write about cats in at least 5 words.",
            "instruction_id_list": ["length_constraints:number_words", "punctuation:no_comma"],
            "kwargs": [{"relation": "at least", "num_words": 5}, {}]}
    assert V.verifier_of(item) == "ifeval"
    assert V.verify(item, "Cats are lovely small furry friends.") is True
    assert V.verify(item, "Cats, dogs, birds, fish, mice.") is False  # commas


# -- checks: validate, fail, describe (lm-eval's real checkers) --------------------------------------
LOWER = {"id": "change_case:english_lowercase"}
NO_COMMA = {"id": "punctuation:no_comma"}
BULLETS = {"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": 3}}
WORDS = {"id": "length_constraints:number_words", "kwargs": {"relation": "at least", "num_words": 12}}


@pytest.mark.parametrize("check, good, bad", [
    (LOWER, "the tide comes in twice a day and goes out twice a day.",
     "The tide comes in twice a day and goes out twice a day."),
    (NO_COMMA, "The tide comes in and the tide goes out.", "The tide comes in, and the tide goes out."),
    (BULLETS, "Tides:\n* the moon pulls the sea\n* the sun pulls less\n* the earth turns under both",
     "Tides:\n* the moon pulls the sea\n* the sun pulls less"),
    (WORDS, "The moon pulls the sea toward it and the earth turns beneath that bulge each day.",
     "The moon pulls the sea."),
])
def test_failed_checks_pass_a_compliant_and_name_a_non_compliant_response(check, good, bad):
    assert V.failed_checks([check], good) == []
    assert V.failed_checks([check], bad) == [check["id"]]
    assert V.failed_checks([check], "   ") == [check["id"]]  # an empty answer follows nothing


def test_failed_checks_names_only_the_checks_that_fail_in_order():
    checks = [LOWER, NO_COMMA, BULLETS]
    response = "tides:\n* the moon pulls the sea, mostly\n* the sun pulls less\n* the earth turns"
    assert V.failed_checks(checks, response) == ["punctuation:no_comma"]
    assert V.failed_checks(checks, "Tides, in short.") == [c["id"] for c in checks]
    assert V.failed_checks([], "anything") == []


def test_failed_checks_passes_the_prompt_to_a_prompt_dependent_check():
    check = {"id": "combination:repeat_prompt", "kwargs": {"prompt_to_repeat": "Say hello."}}
    assert V.failed_checks([check], "Say hello. Hello!", prompt="Say hello.") == []
    assert V.failed_checks([check], "Hello!", prompt="Say hello.") == ["combination:repeat_prompt"]


def test_validate_checks_normalises():
    got = V.validate_checks([LOWER, {**BULLETS}, {"id": WORDS["id"], "kwargs": {**WORDS["kwargs"], "unused": None}}],
                            where="tasks/x.yaml, checks")
    assert got == [{"id": LOWER["id"], "kwargs": {}}, BULLETS, WORDS]
    assert V.validate_checks(NO_COMMA, where="w") == [{"id": NO_COMMA["id"], "kwargs": {}}]  # one check alone
    assert V.validate_checks([], where="w") == []


def test_validate_checks_unknown_id_names_the_place_the_id_and_close_matches():
    where = "tasks/x.yaml, held_out item 3"
    with pytest.raises(V.CheckError) as e:
        V.validate_checks([NO_COMMA, {"id": "change_case:lowercase"}], where=where)
    msg = str(e.value)
    assert msg.startswith(f"{where}: check 2: unknown check id 'change_case:lowercase'")
    assert "did you mean change_case:english_lowercase" in msg
    assert "ifeval_instruction_ids" in msg  # where the list of ids comes from
    assert isinstance(e.value, ValueError)
    # the verifier itself says the same of an id it cannot run
    with pytest.raises(V.CheckError, match="unknown IFEval check id 'punctuation:no_coma'; did you mean punctuation:no_comma"):
        V.failed_checks([{"id": "punctuation:no_coma"}], "x")


def test_validate_checks_unknown_kwarg_names_the_kwarg_and_the_accepted_ones():
    where = "tasks/x.yaml, held_out item 3"
    bad = {"id": "length_constraints:number_words", "kwargs": {"num_word": 5, "relation": "at least"}}
    with pytest.raises(V.CheckError, match=rf"^{re.escape(where)}: check 1: length_constraints:number_words takes no kwarg\(s\) "
                                           r"num_word; it takes num_words, relation$"):
        V.validate_checks([bad], where=where)
    with pytest.raises(V.CheckError, match=r"punctuation:no_comma takes no kwarg\(s\) commas; it takes none"):
        V.validate_checks([{**NO_COMMA, "kwargs": {"commas": 0}}], where=where)


@pytest.mark.parametrize("kwargs, says", [
    ({"relation": "about", "num_words": 5}, "supported relation"),  # build_description's ValueError
    ({"relation": "at least", "num_words": "5"}, "not supported between"),  # a number as a string: TypeError
])
def test_validate_checks_a_value_the_instruction_refuses_is_a_check_error(kwargs, says):
    with pytest.raises(V.CheckError, match=rf"^w: check 1: length_constraints:number_words cannot use kwargs .*{says}"):
        V.validate_checks([{"id": "length_constraints:number_words", "kwargs": kwargs}], where="w")


def test_validate_checks_catches_values_lm_eval_would_take_silently_or_cryptically():
    with pytest.raises(V.CheckError, match="keywords must be a list of strings, got 'tide'"):
        V.validate_checks([{"id": "keywords:existence", "kwargs": {"keywords": "tide"}}], where="w")
    with pytest.raises(V.CheckError, match=r"does not know the value 'xx'; the language codes are .*\bfr\b"):
        V.validate_checks([{"id": "language:response_language", "kwargs": {"language": "xx"}}], where="w")
    for bad in ("change_case:english_lowercase", {"kwargs": {}}, {"id": 3}):
        with pytest.raises(V.CheckError, match="^w: check 1: expected a mapping with an 'id'"):
            V.validate_checks([bad], where="w")
    with pytest.raises(V.CheckError, match=r"unknown field\(s\) \['num_bullets'\]"):
        V.validate_checks([{"id": BULLETS["id"], "num_bullets": 3}], where="w")
    with pytest.raises(V.CheckError, match="kwargs of punctuation:no_comma must be a mapping"):
        V.validate_checks([{**NO_COMMA, "kwargs": ["x"]}], where="w")


def test_describe_checks_gives_lm_eval_s_instruction_text_with_the_kwarg_values():
    bullets, words, keywords, lower = V.describe_checks(
        [{"id": BULLETS["id"], "kwargs": {"num_bullets": 4}}, WORDS,
         {"id": "keywords:existence", "kwargs": {"keywords": ["tide", "harbor"]}}, LOWER])
    assert bullets.startswith("Your answer must contain exactly 4 bullet points.")
    assert words == "Answer with at least 12 words."
    assert "harbor" in keywords and "tide" in keywords
    assert "lowercase" in lower
    # a kwarg left out would be drawn at random by lm-eval, an unknown id has no text: the id stands in
    assert V.describe_checks([{"id": WORDS["id"], "kwargs": {"num_words": 12}}, {"id": "no:such"}]) == [WORDS["id"], "no:such"]
