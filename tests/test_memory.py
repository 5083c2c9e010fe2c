"""The Chroma instruction memory bank with the packaged MiniLM embedder."""

from __future__ import annotations

import json

from click.testing import CliRunner

from graph.context import Context
from memory import MemoryBank
from tools import call_tool

ROWS = [
    {"instruction": "How do I boil an egg?", "response": "Put it in boiling water for 8 minutes."},
    {"instruction": "Name the capital of France.", "response": "Paris."},
    {"instruction": "Write a haiku about autumn.", "response": "Leaves drift on cold wind..."},
]


def test_add_search_and_dedupe(tmp_path):
    bank = MemoryBank(tmp_path / "bank")
    assert bank.add(ROWS) == {"added": 3, "duplicate": 0, "invalid": 0}
    # the same instruction (up to case and spacing) is stored once; rows without a response are invalid
    again = bank.add([{"instruction": "how do I  boil an EGG?", "response": "Other answer."},
                      {"instruction": "No answer", "response": ""}])
    assert again == {"added": 0, "duplicate": 1, "invalid": 1} and bank.count() == 3
    hits = bank.search("What is the capital city of France?", k=2)
    assert hits[0]["instruction"] == "Name the capital of France." and hits[0]["response"] == "Paris."
    assert hits[0]["type"] == "memory" and hits[0]["score"] > hits[1]["score"]
    # persisted: a new client on the same folder sees the rows
    assert MemoryBank(tmp_path / "bank").search("poem about fall leaves", k=1)[0]["instruction"].startswith("Write a haiku")


def test_memory_search_tool(tmp_path):
    ctx = Context(memory_path=str(tmp_path / "bank"), cache_path=str(tmp_path / "c.sqlite"), memory_k=1)
    empty = call_tool("memory_search", "eggs", ctx)
    assert not empty.ok and "python cli.py memory add" in empty.error
    MemoryBank(ctx.memory_path).add(ROWS)
    res = call_tool("search_memory", "cooking eggs", ctx)
    assert res.ok and res.cost == 1.0 and not res.cached
    assert [r["instruction"] for r in res.rows] == ["How do I boil an egg?"] and res.rows[0]["source"] == "memory_search"
    assert res.provenance["bank_rows"] == 3


def test_memory_cli(tmp_path):
    from cli import main

    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    runner = CliRunner()
    bank = ["--path", str(tmp_path / "bank")]
    added = runner.invoke(main, ["memory", "add", str(src), *bank])
    assert added.exit_code == 0 and "added 3, duplicate 0" in added.output
    assert "added 0, duplicate 3" in runner.invoke(main, ["memory", "add", str(src), *bank]).output
    found = runner.invoke(main, ["memory", "search", "French capital", "-k", "1", "--json", *bank])
    assert found.exit_code == 0 and json.loads(found.output)[0]["response"] == "Paris."
    assert "rows: 3" in runner.invoke(main, ["memory", "stats", *bank]).output
    empty = runner.invoke(main, ["memory", "search", "x", "--path", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "is empty" in empty.output


def test_rows_keep_pair_score_and_tags_across_a_fresh_process(tmp_path, spawn):
    """Written by one process, read by another: the row, its agent pair, score and tags survive,
    and a near-duplicate of a stored instruction finds that row first."""
    import sys
    import textwrap

    from tests.conftest import ROOT

    bank_dir = tmp_path / "bank"
    write = textwrap.dedent(f"""
        from memory import MemoryBank
        print(MemoryBank({str(bank_dir)!r}).add([
            {{"instruction": "Describe the process of making crepes.", "response": "Whisk, rest, fry thin.",
              "pair": "clarify+expert", "score": 0.75, "tags": ["star-agents", "memory"], "source": "star-agents:demo"}},
            *{ROWS!r}]))
    """)
    read = textwrap.dedent(f"""
        import json
        from memory import MemoryBank
        print(json.dumps(MemoryBank({str(bank_dir)!r}).search("Describe how crepes are made", k=2)))
    """)
    run = lambda code: spawn.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,  # noqa: E731
                                      check=True, timeout=300).stdout.strip().splitlines()[-1]
    assert run(write) == "{'added': 4, 'duplicate': 0, 'invalid': 0}"
    first, second = json.loads(run(read))
    assert first["instruction"] == "Describe the process of making crepes." and first["score"] > second["score"]
    assert first["pair"] == "clarify+expert" and first["data_score"] == 0.75 and first["tags"] == ["star-agents", "memory"]
    assert first["provenance"]["origin"] == "star-agents:demo"
    assert second["pair"] is None and second["data_score"] is None and second["tags"] == []  # added without them
