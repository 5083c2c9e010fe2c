"""Verifiers: NQ-open answer match, GSM8K final number, IFEval checks offline; on real rows."""

from __future__ import annotations

import json
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
