"""The data-collecting APIs on a small constructed corpus, with scripted models at the boundary."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from graph.context import Context
from tools import ALIASES, TOOL_NAMES, TOOLS, call_tool, resolve
from tools.corpus import CorpusError, build, load
from tools.demonstrations import parse_demonstrations
from tools.retrieval import bm25_candidates, search
from tools.sources import read_source

# BM25 prefers the keyword-stuffed food-industry passage; the dense model knows the question is
# about photosynthesis, which shares only the word "plants" with it.
SMALL_CORPUS = [
    {"title": "Food industry", "text": "Food plants make food: factory plants make packaged food and sell food "
                                       "in shops, and workers make food products all day, even in sunlight."},
    {"title": "Photosynthesis", "text": "Green plants turn light, water and carbon dioxide into sugar and "
                                        "oxygen inside their leaves."},
    {"title": "Volcano", "text": "A volcano is a rupture in the crust of a planet where lava, ash and gases escape."},
    {"title": "Violin", "text": "The violin is a wooden string instrument played with a bow."},
]
QUERY = "How do plants make food from sunlight?"


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("corpus")
    src = root / "passages.jsonl"
    src.write_text("".join(json.dumps(p) + "\n" for p in SMALL_CORPUS))
    return str(build(str(src), name=str(root / "index"), log=lambda m: None))


@pytest.fixture
def ctx(tmp_path, small_corpus) -> Context:
    return Context(corpus=small_corpus, cache_path=str(tmp_path / "cache.sqlite"),
                   memory_path=str(tmp_path / "memory"), policy="fake:policy", max_new_tokens=32)


# ---- corpus and retrieval ------------------------------------------------------------------

def test_dense_rerank_changes_bm25_order(small_corpus):
    corpus = load(small_corpus)
    ids, _ = bm25_candidates(corpus, QUERY, candidates=1000)
    assert corpus.passages[ids[0]]["title"] == "Food industry"  # BM25 alone gets it wrong
    hits = search(corpus, QUERY, k=2)
    assert hits[0].title == "Photosynthesis" and hits[0].bm25_rank == 1
    assert hits[0].score > hits[1].score


def test_retrieval_tool_rows_and_provenance(ctx):
    res = call_tool("information_retrieval", QUERY, ctx.replace(retrieval_k=1))
    assert res.ok and res.cost == 1.0 and not res.cached and res.latency_s > 0
    (row,) = res.rows
    assert row["type"] == "document" and row["title"] == "Photosynthesis" and row["source"] == "information_retrieval"
    assert row["provenance"]["corpus_version"] == load(ctx.corpus).version
    assert res.provenance["stage1"] == "bm25"


def test_query_without_corpus_words_falls_back_to_dense(ctx):
    res = call_tool("information_retrieval", "fiddle", ctx)  # no word of the corpus: BM25 has nothing
    assert res.ok and res.rows[0]["title"] == "Violin"
    assert res.rows[0]["provenance"]["bm25_rank"] is None and res.provenance["stage1"].startswith("skipped")


def test_text_and_json_sources(tmp_path):
    (tmp_path / "notes.txt").write_text("First paragraph about cats.\n\nSecond paragraph about dogs.\n")
    assert [p["text"] for p in read_source(str(tmp_path / "notes.txt"))] == [
        "First paragraph about cats.", "Second paragraph about dogs."]
    (tmp_path / "bad.jsonl").write_text('{"title": "x"}\n')
    with pytest.raises(CorpusError, match="no passages"):
        read_source(str(tmp_path / "bad.jsonl"))
    with pytest.raises(CorpusError, match="does not exist"):
        read_source(str(tmp_path / "missing.jsonl"))


def test_unbuilt_corpus_is_a_tool_error_naming_the_build_command(tmp_path):
    res = call_tool("search", "anything", Context(corpus="no-such-corpus", cache_path=str(tmp_path / "c.sqlite")))
    assert not res.ok and res.rows == [] and "python cli.py corpus build" in res.error


# ---- argument checks and names --------------------------------------------------------------

@pytest.mark.parametrize("arg, message", [("", "empty argument"), ("   ", "empty argument"),
                                          ("x" * 501, "longer than the limit of 500")])
def test_bad_arguments_are_errors_not_crashes(ctx, arg, message):
    res = call_tool("information_retrieval", arg, ctx)
    assert not res.ok and message in res.error and res.rows == [] and res.cost == 1.0


def test_unknown_tool_and_aliases(ctx):
    assert "unknown tool" in call_tool("browse_web", "x", ctx).error
    assert resolve("Retrieve-Information") == "information_retrieval"
    assert resolve("get_instances") == "demonstration_generation" and resolve("ask_question") == "question_answering"
    assert set(ALIASES.values()) <= set(TOOL_NAMES) == {t.name for t in TOOLS}


# ---- demonstrations ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Instruction: Name a planet.\nResponse: Mars.", [("Name a planet.", "Mars.")]),
    ("**Instruction 1:** Explain rain.\n**Response 1:** Water falls from clouds.", [("Explain rain.", "Water falls from clouds.")]),
    ("### Instruction\nSum 2 and 3.\n### Response\n5", [("Sum 2 and 3.", "5")]),
    ("Sure! Question: What is H2O? Answer: Water.", [("What is H2O?", "Water.")]),
    ("Instruction: A\nResponse: B\n\nInstruction: C\nResponse: D", [("A", "B"), ("C", "D")]),
    ("Instruction: <the instruction>\nResponse: <the response>", []),
    ("Instruction: Describe a cat.\nResponse:", []),
    ("Photosynthesis is how plants make sugar.", []),
])
def test_parse_demonstrations(text, expected):
    assert [(p["instruction"], p["response"]) for p in parse_demonstrations(text)] == expected


def test_demonstrations_keep_parsed_pairs_and_report_rejected(ctx, fake_llm):
    policy = fake_llm("policy").script("Instruction: Define osmosis.\nResponse: Water moving through a membrane.",
                                       "I cannot think of one.")
    res = call_tool("get_instances", "osmosis", ctx)
    assert res.ok and res.cost == 2.0 and policy.calls == 1
    (row,) = res.rows
    assert row == {"type": "demonstration", "instruction": "Define osmosis.", "response": "Water moving through a membrane.",
                   "source": "demonstration_generation",
                   "provenance": {"generated_by": "fake:policy", "topic": "osmosis", "sample": 0}}
    assert res.provenance["rejected"] == 1 and res.provenance["rejected_raw"] == ["I cannot think of one."]
    assert "Topic: osmosis" in policy.history[0][-1]["content"]


def test_demonstrations_with_nothing_parsable_is_an_error(ctx, fake_llm):
    policy = fake_llm("policy").script("no format here", "nor here")
    res = call_tool("demonstration_generation", "osmosis", ctx)
    assert not res.ok and "no parsable Instruction/Response pair" in res.error and res.rows == []
    assert res.provenance["rejected_raw"] == ["no format here", "nor here"]
    # a failed call is not in the tool cache, but its seeded samples are in the generation cache:
    # asked again, it fails again, as reported, without asking the model again
    policy.script("Instruction: X?\nResponse: Y.", "Instruction: X?\nResponse: Y.")
    again = call_tool("demonstration_generation", "osmosis", ctx)
    assert not again.ok and not again.cached and again.error == res.error
    assert again.provenance["rejected_raw"] == ["no format here", "nor here"] and policy.calls == 1
    # another seed is another sample: the model is asked
    ctx.seed = 1
    third = call_tool("demonstration_generation", "osmosis", ctx)
    assert third.ok and len(third.rows) == 1 and policy.calls == 2  # the duplicate sample is dropped


def test_every_generation_of_a_tool_goes_through_the_generation_cache(ctx, fake_llm):
    policy = fake_llm("policy")
    policy.respond = lambda msgs: "Instruction: Q\nResponse: A"
    ctx.tool_cache = False  # the tool cache off: only the generation cache can answer
    first = call_tool("demonstration_generation", "t", ctx)
    second = call_tool("demonstration_generation", "t", ctx)
    assert first.rows == second.rows and policy.calls == 1
    ctx.seed = None  # unseeded samples ask for fresh randomness: never reused
    call_tool("demonstration_generation", "t", ctx)
    call_tool("demonstration_generation", "t", ctx)
    assert policy.calls == 3


# ---- question answering --------------------------------------------------------------------

def test_qa_with_teacher(ctx, fake_llm):
    teacher = fake_llm("teacher").script("Answer: Leonardo da Vinci painted it.")
    ctx.teacher = "fake:teacher"
    res = call_tool("ask_question", "Who painted the Mona Lisa?", ctx)
    assert res.ok and res.cost == 3.0 and teacher.calls == 1
    assert res.rows[0]["response"] == "Leonardo da Vinci painted it."
    assert res.provenance == {"answered_by": "fake:teacher", "teacher": "fake:teacher", "grounded_in": [],
                              "finish_reason": "stop"}
    assert "Provide a detailed Answer to the given Question." in teacher.history[0][-1]["content"]


def test_qa_without_teacher_is_grounded_and_says_so(ctx, fake_llm):
    policy = fake_llm("policy").script("Plants use photosynthesis.")
    res = call_tool("question_answering", QUERY, ctx)
    prov = res.rows[0]["provenance"]
    assert prov["answered_by"] == "fake:policy" and prov["teacher"] is None
    assert prov["note"] == "no stronger model configured" and prov["grounded_in"][0] == "Photosynthesis"
    assert "Green plants turn light" in policy.history[0][-1]["content"]


def test_empty_answer_and_failing_backend_are_errors(ctx, fake_llm):
    fake_llm("teacher").script("   ")
    ctx.teacher = "fake:teacher"
    assert "empty answer" in call_tool("question_answering", "Why?", ctx).error
    ctx.teacher = "nosuchbackend:model"
    res = call_tool("question_answering", "Why?", ctx)
    assert not res.ok and "unknown model backend" in res.error


# ---- cache ---------------------------------------------------------------------------------

def test_cache_hit_is_identical_with_zero_model_calls(ctx, fake_llm):
    policy = fake_llm("policy").script("Instruction: Name a gas.\nResponse: Oxygen.", "Instruction: Name a metal.\nResponse: Iron.")
    first = call_tool("demonstration_generation", "chemistry", ctx)
    second = call_tool("demonstration_generation", "  Chemistry ", ctx)  # normalized argument: the same call
    assert policy.calls == 1 and not first.cached and second.cached
    assert second.rows == first.rows and second.provenance == first.provenance and second.tokens == first.tokens
    # a different seed or temperature is a different call
    policy.script("Instruction: Name a salt.\nResponse: NaCl.", "Instruction: Name a salt.\nResponse: NaCl.")
    ctx.seed = 1
    third = call_tool("demonstration_generation", "chemistry", ctx)
    assert not third.cached and policy.calls == 2 and third.rows[0]["instruction"] == "Name a salt."


def test_cache_off_runs_again(ctx, fake_llm):
    policy = fake_llm("policy")
    policy.respond = lambda msgs: "Instruction: Q\nResponse: A"
    ctx.tool_cache = ctx.generation_cache = False  # what --no-cache sets
    call_tool("demonstration_generation", "t", ctx)
    call_tool("demonstration_generation", "t", ctx)
    assert policy.calls == 2


# ---- the LangGraph path and the CLI --------------------------------------------------------

def test_tools_run_in_a_toolnode_with_the_runtime_context(ctx, fake_llm):
    from tools.lc import run_through_graph

    fake_llm("policy").script("Instruction: Q1\nResponse: A1", "Instruction: Q2\nResponse: A2")
    out = run_through_graph("demonstration_generation", "anything", ctx)
    assert out["error"] is None and [r["instruction"] for r in out["rows"]] == ["Q1", "Q2"]
    bad = run_through_graph("information_retrieval", "", ctx)  # an error is content, the graph goes on
    assert "empty argument" in bad["error"]


def test_cli_tools_list_and_call(small_corpus, tmp_path, monkeypatch):
    from cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["tools", "list"])
    assert listed.exit_code == 0 and "information_retrieval  (cost 1" in listed.output
    assert "Search a Wikipedia corpus" in listed.output
    monkeypatch.setenv("ADS_HOME", str(tmp_path))  # the CLI's Context puts its cache there
    called = runner.invoke(main, ["tools", "call", "retrieve_information", QUERY, "--corpus", small_corpus, "--json"])
    assert called.exit_code == 0, called.output
    result = json.loads(called.output)
    assert result["rows"][0]["title"] == "Photosynthesis" and result["cost"] == 1.0
    again = runner.invoke(main, ["tools", "call", "search", QUERY, "--corpus", small_corpus])
    assert again.exit_code == 0 and "cached True" in again.output and "title: Photosynthesis" in again.output
    failed = runner.invoke(main, ["tools", "call", "search", "", "--corpus", small_corpus])
    assert failed.exit_code == 1 and "empty argument" in failed.output
    info = runner.invoke(main, ["corpus", "info", small_corpus])
    assert info.exit_code == 0 and "passages: 4" in info.output
    missing = runner.invoke(main, ["corpus", "info", "nothing-here"])
    assert missing.exit_code == 1 and "python cli.py corpus build" in missing.output


def test_hub_dataset_offline_is_a_clear_error():
    with pytest.raises(CorpusError, match="needs a network"):
        read_source("hf:no-such-owner/no-such-dataset", limit=5)


def test_query_fast_path_matches_flagembedding():
    import numpy as np

    from llms.embeddings import load_embedder

    emb = load_embedder()
    ours = emb.encode_queries(["Who painted the Mona Lisa?", "photosynthesis"])
    theirs = np.asarray(emb.model.encode_queries(["Who painted the Mona Lisa?", "photosynthesis"]))
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.9999
    # passages (batched, bf16 where the CPU has it) stay within rounding of FlagEmbedding's float32 path
    passages = [p["title"] + ". " + p["text"] for p in SMALL_CORPUS]
    assert (emb.encode(passages) * np.asarray(emb.model.encode_corpus(passages))).sum(axis=1).min() > 0.999
