"""The in-context update: packing rows into a token budget and the paper's ICL prompt."""

from __future__ import annotations

import pytest

from graph import prompts
from trainers.icl import by_score, format_row, icl_prompt, pack

T = {"document": prompts.ICL_DOCUMENT, "example": prompts.ICL_EXAMPLE}

DOCS = [
    {"type": "document", "title": "Nile", "text": "The Nile is a major north-flowing river in northeastern Africa.", "score": 0.2},
    {"type": "demonstration", "instruction": "Name a river in Europe.", "response": "The Danube.", "score": 0.9},
    {"type": "qa", "instruction": "How long is the Amazon?", "response": "About 6,400 km.", "score": 0.5},
    {"type": "memory", "instruction": "What is a delta?", "response": "Land formed where a river deposits sediment at its mouth."},
    {"type": "document", "title": "Rhine", "text": "The Rhine rises in the Swiss Alps and flows to the North Sea. " * 6, "score": 0.7},
]


def words(text: str) -> int:
    return len(text.split())


def test_rows_are_packed_highest_score_first_unscored_last():
    order = [r.get("title") or r["instruction"] for r in by_score(DOCS)]
    assert order == ["Name a river in Europe.", "Rhine", "How long is the Amazon?", "Nile", "What is a delta?"]
    assert by_score(DOCS, score=lambda r: -len(r.get("text", "")))[0]["type"] != "document"


def test_pack_formats_documents_and_pairs_and_numbers_them():
    packed = pack(DOCS[:3], words, 1000, **T)
    assert packed.dropped == []
    blocks = packed.text.split("\n\n")
    assert blocks[0] == "[1] Instruction: Name a river in Europe.\nResponse: The Danube."
    assert blocks[1] == "[2] Instruction: How long is the Amazon?\nResponse: About 6,400 km."
    assert blocks[2].startswith("[3] Nile\nThe Nile is")
    assert packed.tokens == words(packed.text)
    assert format_row({"type": "document", "text": "No title."}, 4, **T) == "[4]\nNo title."


def test_pack_drops_what_does_not_fit_and_lets_smaller_rows_in():
    full = pack(DOCS, words, 10_000, **T)
    rhine_tokens = words(format_row(DOCS[4], 2, **T))
    budget = full.tokens - rhine_tokens  # room for everything except the long Rhine document
    packed = pack(DOCS, words, budget, **T)
    assert [r.get("title") for r in packed.dropped] == ["Rhine"]
    assert len(packed.used) == 4 and packed.tokens <= budget
    assert pack(DOCS, words, 0, **T).used == [] and len(pack(DOCS, words, 0, **T).dropped) == len(DOCS)


def test_pack_respects_the_budget_exactly_with_the_real_tokenizer(smollm):
    count = smollm.count_tokens
    everything = pack(DOCS, count, 100_000, **T)
    assert everything.dropped == []
    assert pack(DOCS, count, everything.tokens, **T).dropped == []  # exactly enough: all fit
    for budget in (1, 12, 25, 40, 77, everything.tokens - 1):
        packed = pack(DOCS, count, budget, **T)
        assert count(packed.text) == packed.tokens <= budget
        # greedy and maximal: every dropped row would have broken the budget when it was tried
        for row in packed.dropped:
            kept_before = [r for r in by_score(DOCS) if r in packed.used and by_score(DOCS).index(r) < by_score(DOCS).index(row)]
            trial = pack(kept_before + [row], count, 100_000, **T)
            assert trial.tokens > budget
    assert pack(DOCS, count, everything.tokens - 1, **T).dropped  # one token short: something is left out


def test_icl_prompt_puts_data_then_rules_then_instruction():
    packed = pack(DOCS[:2], words, 1000, **T)
    text = icl_prompt(packed.text, "How long is the Nile?", prompts.ICL_PROMPT)
    assert text.index("The Danube") < text.index("Rules:") < text.index("How long is the Nile?")
    assert "hint" in text and "know more than the provided information" in text
    assert text == prompts.ICL_PROMPT.format(data=packed.text, instruction="How long is the Nile?")
    assert icl_prompt("", "How long is the Nile?", prompts.ICL_PROMPT) == "How long is the Nile?"  # nothing packed: unchanged
    assert icl_prompt("x", "q", "<{data}|{instruction}>") == "<x|q>"


def test_rows_that_cannot_be_packed_say_why():
    with pytest.raises(ValueError, match="unknown row type 'image'"):
        pack([{"type": "image", "url": "x"}], words, 10, **T)
    with pytest.raises(ValueError, match="no 'response'"):
        pack([{"type": "qa", "instruction": "q"}], words, 10, **T)
    with pytest.raises(ValueError, match="no text"):
        pack([{"type": "document", "text": " "}], words, 10, **T)
