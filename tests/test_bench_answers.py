"""bench/answers.py: the rules that choose among a question's candidate answers read agreement and
log-probs, never the accepted answers; the tally counts items gained and lost."""

from __future__ import annotations

import re

import pytest

from tests.fakes import bench_script

pytestmark = pytest.mark.fast


def answers():
    return bench_script("answers")


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower())) - {"the", "is", "who", "a"}


Q = "who wrote the odyssey"


def test_answers_agree_on_their_own_words_beyond_the_question():
    a = answers()
    assert a.agree(Q, "Homer wrote the Odyssey.", "It was Homer.", 0.5, words)
    assert not a.agree(Q, "Homer wrote the Odyssey.", "Virgil wrote the Odyssey.", 0.5, words)
    assert not a.agree(Q, "The Odyssey.", "Homer.", 0.1, words)  # an answer adding nothing agrees with none
    assert a.most_agreed(Q, ["Virgil.", "Homer.", "Homer, a poet.", "Sappho."], 0.5, words) == 1


def record(answers_, ok, gives_way=False, own=None, full=None, bare=None):
    n = len(answers_)
    lp = {"own": own or [(-1.0, 1)] * n, "full": full or [(-1.0, 1)] * n, "bare": bare or [(-1.0, 1)] * n}
    return {"q": Q, "answers": answers_, "ok": ok, "gives_way": gives_way, "lp": lp}


def test_each_rule_picks_by_agreement_or_log_probs():
    rules = answers().rules(words)
    default, whole, agreed, most, surest, full_or_bare, pmi = rules.values()
    # whole context, two rows alone, bare
    r = record(["Virgil.", "Homer.", "Homer, a poet.", "Sappho."], [False, True, True, False],
               own=[(-4.0, 2), (-1.0, 2), (-3.0, 2), (-2.0, 2)], full=[(-1.0, 2), (-2.0, 2), (-2.0, 2), (-6.0, 2)],
               bare=[(-5.0, 2), (-2.0, 2), (-2.0, 2), (-1.0, 2)])
    assert default(r) == 0 and whole(r) == 0
    assert agreed(r) == 3  # the whole context's answer agrees with no row's: the bare answer
    assert most(r) == 1
    assert surest(r) == 1  # -0.5 mean under its own prompt
    assert full_or_bare(r) == 0  # under the whole-context prompt: -0.5 against -3.0
    assert pmi(r) == 0  # -0.5 - -2.5 = +2.0, the largest gain over the bare question
    r["gives_way"] = True
    assert default(r) == agreed(r) == most(r) == 3


def test_tally_counts_gains_and_losses_against_the_original():
    acc, gain, won, lost = answers().tally([True, False, False, True], [True, True, True, False])
    assert (acc, gain, won, lost) == (75.0, 25.0, 2, 1)
