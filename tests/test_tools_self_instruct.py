"""Self-Instruct generation and its heuristic filters (tools/self_instruct.py) on hand-made rows."""

from __future__ import annotations

import json

import pytest

from records import RecordError
from tools import self_instruct as si

PROMPT = "Come up with a new task.\n\nExamples:\n{examples}"


def rows(*texts, **extra):
    return [{"instruction": t, "input": "", **extra} for t in texts]


def test_length_filter_keeps_4_to_150_words():
    kept, dropped = si.filter_length(rows("Say hi now.", "Write a poem about rain.", " ".join(["word"] * 151), ""))
    assert [r["instruction"] for r in kept] == ["Write a poem about rain."]
    assert [why for _, why in dropped] == ["3 words (keep 4-150)", "151 words (keep 4-150)", "0 words (keep 4-150)"]


def test_banned_words_match_whole_words_in_instruction_or_input():
    found = rows("Describe the image of a sunset.", "Plot the data points.", "Explain how mapping software works.",
                 "Tell me how to go to the station.", "Summarize the paragraph below.")
    found[4]["input"] = "The file was lost."
    kept, dropped = si.filter_banned(found)
    assert [r["instruction"] for r in kept] == ["Explain how mapping software works."]  # "mapping" is not "map"
    assert [why for _, why in dropped] == ["banned word 'image'", "banned word 'plot'", "banned word 'go to'",
                                           "banned word 'file'"]


def test_start_filter_drops_punctuation_and_non_english_starts():
    kept, dropped = si.filter_start(rows("- list three fruits please", "Écris un poème sur la mer.", "Name three fruits.", "  "))
    assert [r["instruction"] for r in kept] == ["Name three fruits."]
    assert [why for _, why in dropped] == ["starts with punctuation '-'", "starts with a non-English character 'É'",
                                           "empty instruction"]


def test_format_filter_drops_leaked_markers_and_urls():
    kept, dropped = si.filter_format(rows("Rewrite it. Input: the text", "Read https://example.com and summarize it.",
                                          "Summarize the article in one line."))
    assert [r["instruction"] for r in kept] == ["Summarize the article in one line."]
    assert len(dropped) == 2


def test_near_duplicates_by_rouge_l_against_the_pool_and_each_other():
    pool = ["Give three tips for staying healthy."]
    found = rows("Give three tips for staying healthy and fit.",  # vs pool: LCS 6, P 6/8, R 6/6: F = 0.86
                 "Write a story about a brave knight.",
                 "Write a story about a brave young knight.",  # vs the row kept before it: F = 14/15
                 "List the planets of the solar system.")
    kept, dropped = si.filter_near_duplicates(found, pool, max_rouge=0.7)
    assert [r["instruction"] for r in kept] == ["Write a story about a brave knight.", "List the planets of the solar system."]
    assert dropped[0][1] == "ROUGE-L 0.86 > 0.7 with 'Give three tips for staying healthy.'"
    assert dropped[1][1].startswith("ROUGE-L 0.93 > 0.7 with 'Write a story about a brave knight.'")
    assert all(r["max_rouge"] <= 0.7 for r in kept)
    # an exact duplicate is caught whatever its case and spacing
    _, dropped = si.filter_near_duplicates(rows("GIVE three   tips for staying healthy."), pool)
    assert dropped[0][1].startswith("ROUGE-L 1.00")
    # the threshold is a strict "greater than": raised to 1.0 nothing is a near-duplicate
    kept, _ = si.filter_near_duplicates(rows("Give three tips for staying healthy."), pool, max_rouge=1.0)
    assert len(kept) == 1


def test_empty_outputs_are_dropped():
    pairs = [{"instruction": "Name a fruit.", "response": "Apple."}, {"instruction": "Name a tree.", "response": "  \n"},
             {"instruction": "Name a river."}]
    kept, dropped = si.filter_empty_outputs(pairs)
    assert kept == pairs[:1] and [why for _, why in dropped] == ["empty output", "no response"]


def test_heuristic_filters_log_every_step_in_order():
    kept, dropped, log = si.heuristic_filters(rows("Hi there.", "Draw a cat for me please.", "Name the three largest oceans on Earth."),
                                              ["Name the three largest oceans."], max_rouge=0.7)
    assert kept == [] and [s["step"] for s in log] == ["length", "banned", "start", "format", "near_duplicate"]
    assert [(s["in"], s["kept"]) for s in log] == [(3, 2), (2, 1), (1, 1), (1, 1), (1, 0)]
    assert [why.split(":")[0] for _, why in dropped] == ["length", "banned", "near_duplicate"]


def test_parse_tasks_reads_numbered_blocks_and_leaves_a_truncated_one_out():
    text = ("4. Instruction: Write a poem about rain.\n4. Input:\n<noinput>\n###\n"
            "5. Instruction: Sort the list.\n6. Input:\n3, 1, 2\n###\n6. Instruction: Name a")
    assert si.parse_tasks(text, truncated=True) == [{"instruction": "Write a poem about rain.", "input": ""},
                                                    {"instruction": "Sort the list.", "input": "3, 1, 2"}]
    assert si.parse_tasks("4. Instruction: Name a", truncated=True) == []
    assert si.parse_tasks("Sure! Instruction: Name a red fruit.") == [{"instruction": "Name a red fruit.", "input": ""}]
    assert si.parse_tasks("I cannot think of one.") == []


def test_generate_instructions_samples_the_pool_into_each_prompt(fake_llm):
    llm = fake_llm("writer")
    llm.respond = lambda messages: "4. Instruction: Name a river in Asia.\n4. Input:\n<noinput>\n###"
    pool = [{"instruction": f"Seed task number {k}.", "input": "some input" if k == 0 else "", "id": f"s{k}"} for k in range(5)]
    out = si.generate_instructions(llm, pool, n=4, prompt=PROMPT, examples_per_prompt=3, temperature=0.7, seed=1, batch_size=2)
    assert [o["instruction"] for o in out] == ["Name a river in Asia."] * 4 and len(llm.history) == 4
    first = llm.history[0][-1]["content"]
    assert first.startswith("Come up with a new task.\n\nExamples:\n###\n1. Instruction: Seed task number ")
    assert first.count("Instruction:") == 3 and first.endswith("###")
    shown = out[0]["provenance"]["examples"]
    assert len(shown) == 3 and all(f"{s}." in first for s in ("Seed task number " + x[1:] for x in shown))
    assert llm.params[0].temperature == 0.7 and llm.params[0].seed == 1 and llm.params[2].seed == 2  # one seed a round
    again = si.generate_instructions(fake_llm("writer"), pool, n=4, prompt=PROMPT, examples_per_prompt=3, seed=1, batch_size=2)
    assert [o["provenance"]["examples"] for o in again] == [o["provenance"]["examples"] for o in out]  # seeded


def test_generate_instructions_stops_after_max_rounds_when_nothing_parses(fake_llm):
    llm = fake_llm("mute")
    llm.respond = lambda messages: "I do not know."
    assert si.generate_instructions(llm, [{"instruction": "Say hello to me."}], n=3, prompt=PROMPT, max_rounds=2,
                                    batch_size=3) == []
    assert len(llm.history) == 6
    with pytest.raises(ValueError, match="the task pool is empty"):
        si.generate_instructions(llm, [], n=3, prompt=PROMPT)


def test_read_tasks_accepts_seed_tasks_alpaca_and_vicuna_rows(tmp_path, shared_data):
    seeds = si.read_tasks(shared_data / "self-instruct" / "seed_tasks.jsonl")
    assert len(seeds) == 175 and seeds[1]["instruction"] == "What is the relation between the given pairs?"
    assert seeds[1]["input"] == "Night : Day :: Right : Left" and seeds[1]["id"] == "seed_task_1"
    vicuna = si.read_tasks(shared_data / "vicuna-bench" / "question.jsonl")
    assert vicuna[0]["instruction"] == "How can I improve my time management skills?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "ok"}) + "\n" + json.dumps({"output": "no instruction"}) + "\n")
    with pytest.raises(RecordError, match="bad.jsonl: row 2: no instruction"):
        si.read_tasks(bad)


def test_rouge_filter_on_plain_strings_and_a_prompt_without_examples_is_refused(fake_llm):
    kept, dropped = si.rouge_filter(["Name the largest ocean on Earth.", "Bake a loaf of bread."],
                                    ["Name the largest ocean on Earth please."])
    assert kept == ["Bake a loaf of bread."] and dropped[0][0] == "Name the largest ocean on Earth."
    with pytest.raises(ValueError, match="must hold {examples}"):
        si.generate_instructions(fake_llm("w"), [{"instruction": "Say hi to me."}], n=1, prompt="No slot here.")
