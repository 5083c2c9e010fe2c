"""The star-agents graph: pure pair sampling and probability updates against hand-computed values,
and whole runs driven by scripted models (tests/fakes.py) through graph.runs.RunStore."""

from __future__ import annotations

import csv
import json
import math

import pytest

from graph import prompts
from graph.agents import DEFAULT_AGENTS, draw, initial_probabilities, parse_agents, sample_pairs, update_probabilities, valid_pairs
from graph.context import Context
from graph.options import ConfigError
from graph.star_agents.seed import best, parse_rewrite


class Uniforms:
    """The uniform numbers a draw uses, fixed so the pairs drawn can be worked out by hand."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


# ---- pure functions ---------------------------------------------------------------------------

def test_probability_update_by_hand():
    p = {"a": 0.5, "b": 0.3, "c": 0.2}
    # a += 0.1 x 1.0 -> 0.6; total 1.1 -> 0.6/1.1, 0.3/1.1, 0.2/1.1
    assert update_probabilities(p, "a", 1.0, 0.1) == pytest.approx({"a": 6 / 11, "b": 3 / 11, "c": 2 / 11})
    # a negative score lowers the pair: c += 0.5 x -0.2 -> 0.1; total 0.9
    assert update_probabilities(p, "c", -0.2, 0.5) == pytest.approx({"a": 5 / 9, "b": 3 / 9, "c": 1 / 9})
    # below zero it stops at the floor 0.001: b -> 0.001, total 0.701
    assert update_probabilities(p, "b", -1.0, 1.0)["b"] == pytest.approx(0.001 / 0.701)
    assert update_probabilities(p, "a", 1.0, 0.0) == pytest.approx(p)  # beta 0: nothing moves
    with pytest.raises(KeyError, match="no probability"):
        update_probabilities(p, "zz", 1.0, 0.1)


def test_draw_walks_the_running_total():
    w = {"a": 0.2, "b": 0.5, "c": 0.3}  # running totals 0.2, 0.7, 1.0
    assert [draw(w, u) for u in (0.0, 0.19, 0.2, 0.69, 0.7, 0.99, 1.0)] == ["a", "a", "b", "b", "c", "c", "c"]
    assert draw({"x": 2.0, "y": 6.0}, 0.3) == "y"  # weights need not sum to 1: 0.3 x 8 = 2.4 > 2


def test_l_from_memory_and_m_minus_l_from_p():
    p = {"a": 0.5, "b": 0.25, "c": 0.25}
    # memory neighbours wrote b twice and c once (and a pair with no probability, ignored):
    # weights b 2, c 1; u=0.7 -> 2.1 of 3 > 2 -> c. Then the global draw without c: a 0.5, b 0.25,
    # u=0.7 -> 0.525 of 0.75 > 0.5 -> b
    got = sample_pairs(p, ["b", "c", "b", "gone+x"], m=2, l=1, rng=Uniforms(0.7, 0.7))
    assert got == [("c", "memory"), ("b", "global")]
    # l=2: b (u=0.1 -> 0.3 < 2), then c from what memory has left; no global draw
    assert sample_pairs(p, ["b", "c", "b"], m=2, l=2, rng=Uniforms(0.1, 0.9)) == [("b", "memory"), ("c", "memory")]
    # an empty bank: all M from p (a: u=0.1, then c: 0.9 x 0.5 = 0.45 > 0.25)
    assert sample_pairs(p, [], m=2, l=1, rng=Uniforms(0.1, 0.9)) == [("a", "global"), ("c", "global")]
    # M larger than the pairs there are: each at most once
    assert sorted(x for x, _ in sample_pairs(p, [], m=5, l=0, rng=Uniforms(0, 0, 0))) == ["a", "b", "c"]


def test_pairs_and_initial_probabilities():
    agents = parse_agents(DEFAULT_AGENTS, prompts.NAMES)
    pairs = valid_pairs(agents)
    assert "keep+seed" in pairs and "clarify+seed" not in pairs  # a seed answer never goes with a rewrite
    assert len(pairs) == 3 * 3 + 1
    assert initial_probabilities(["a", "b"]) == {"a": 0.5, "b": 0.5}
    # from a previous run: renormalised over today's pairs; a new pair gets the uniform share 1/3
    assert initial_probabilities(["a", "b", "c"], {"a": 0.6, "b": 0.2, "old": 0.2}) == pytest.approx(
        {"a": 0.6 / (0.8 + 1 / 3), "b": 0.2 / (0.8 + 1 / 3), "c": (1 / 3) / (0.8 + 1 / 3)})


def test_rewrite_parsing_and_selection():
    assert parse_rewrite("Rewritten instruction: Describe crepes in 3 steps.\n\nResponse: ...",
                         "Rewritten instruction:") == "Describe crepes in 3 steps."
    assert parse_rewrite('**Instruction:** "List two uses of salt."') == "List two uses of salt."
    assert parse_rewrite("Rewritten instruction:   ", "Rewritten instruction:") is None
    assert parse_rewrite("x" * 2000) is None
    assert best([{"score": 0.5}, {"score": 0.5}, {"score": None}]) == 0  # a tie keeps the earlier (the base)
    assert best([{"score": 0.5}, {"score": 1.0}, {"score": 0.2}]) == 1 and best([{"score": None}]) is None


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="star_l <= star_m"):
        Context.build(star_m=1, star_l=2)
    with pytest.raises(ConfigError, match="not a pair"):
        Context.build(star_base_pairs=["clarify+seed"])
    with pytest.raises(ConfigError, match="is the policy itself"):
        Context.build(star_large_model=Context().policy)
    with pytest.raises(ConfigError, match="system prompt"):
        Context.build(star_agents={**DEFAULT_AGENTS, "odd": {"role": "response", "prompt": "NO_SUCH_PROMPT"}})


# ---- whole runs on scripted models ------------------------------------------------------------

SEEDS = [{"instruction": "Describe how to make crepes.", "input": "", "output": "Mix flour, eggs and milk; fry thin."},
         {"instruction": "Name three primary colors.", "output": "Red, blue and yellow."},
         {"instruction": "Explain how to make pancakes.", "response": "Whisk batter, fry on both sides."},
         {"instruction": "Give a synonym for happy.", "output": "Joyful."}]


def agent_model(messages):
    """Instruction agents rewrite (deepen writes nothing: unparsable); response agents answer in their style;
    as judge, the answer with EXPERT in it wins in both orders."""
    system, user = messages[0]["content"], messages[-1]["content"]
    if user.startswith("[User Question]"):
        a, b = user.split("[The Start of Assistant B's Answer]")
        return "[[A]]" if "EXPERT" in a else "[[B]]" if "EXPERT" in b else "[[C]]"
    if user.startswith("Rewrite the instruction"):
        seed = user.split("Instruction: ", 1)[1]
        return "" if system == prompts.STAR_SYSTEM_DEEPEN else f"Rewritten instruction: {seed} Be specific."
    style = {prompts.STAR_SYSTEM_EXPERT: "EXPERT answer", prompts.STAR_SYSTEM_STEPS: "1. First step",
             prompts.STAR_SYSTEM_PLAIN: "A plain answer"}[system]
    return f"{style} to: {user}"


@pytest.fixture
def star_models(fake_llm):
    policy, large = fake_llm("star"), fake_llm("large")
    policy.respond = agent_model
    # IFD on the policy: e^(1 - 2) for every pair; on the large model EXPERT answers are easier
    policy.logprob_fn = lambda c, r: [-1.0] if c else [-2.0]
    large.logprob_fn = lambda c, r: ([-0.5] if "EXPERT" in r else [-1.5]) if c else [-2.0]
    return policy, large


def star_context(tmp_path, **more) -> Context:
    return Context.build(policy="fake:star", judge="fake:star", judge_reading="text", run_dir=str(tmp_path / "run"),
                         memory_path=str(tmp_path / "bank"), cache_path=str(tmp_path / "cache.sqlite"),
                         generation_cache=False, tool_cache=False, **more)


def run(tmp_path, ctx, seeds=SEEDS, store=None):
    from graph.runs import RunStore

    store = store or RunStore(tmp_path / "runs.sqlite")
    return store, *store.start("star-agents", {"seeds": seeds, "source": "seeds.json"}, ctx)


def test_a_run_keeps_the_best_candidate_moves_p_and_grows_the_bank(tmp_path, star_models):
    from memory import MemoryBank

    ctx = star_context(tmp_path, star_large_model="fake:large", star_m=3, star_l=1)
    _, thread, values = run(tmp_path, ctx)
    rep = values["report"]
    assert rep["counts"]["seeds"] == 4 and rep["counts"]["kept"] == 4
    records = [json.loads((tmp_path / "run" / "seeds" / f"{i:05d}.json").read_text()) for i in range(4)]
    for r in records:
        # only EXPERT answers are easier for the large model (a positive IFD difference); a seed without
        # one has only negative differences, where eq. 5 is undefined, and the judge alone ranks it
        has_expert = any(c["pair"].endswith("+expert") and c["status"] == "ok" for c in r["candidates"])
        assert r["score_kind"] == ("judge x dual_ifd" if has_expert else
                                   "judge (dual IFD undefined: largest IFD difference <= 0)")
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert [r["seed"]["instruction"] for r in rows] == [s["instruction"] for s in SEEDS]
    for r in rows:  # TRL conversational rows with their scores, pair and seed
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        assert r["pair"] and r["score"] is not None and r["score_kind"]
    # wherever an EXPERT pair was sampled it won (judge 1 x dual IFD 1, the largest IFD difference)
    kept_expert = [r for r in rows if r["pair"].endswith("+expert")]
    assert kept_expert and all(r["score"] == pytest.approx(1.0) and r["verdict"] == "A" for r in kept_expert)
    cands = [json.loads(line) for line in (tmp_path / "run" / "candidates.jsonl").read_text().splitlines()]
    deepen = [c for c in cands if c["pair"].startswith("deepen+")]
    assert rep["counts"]["unparsable"] == len(deepen) and all(c["status"] == "unparsable" for c in deepen)
    # p_jk: each EXPERT win added beta x 1 to its pair before renormalising
    history = list(csv.reader((tmp_path / "run" / "probabilities.csv").open()))
    assert len(history) == 1 + 1 + len(SEEDS) and history[1][0] == "start"
    end = rep["probabilities"]["end"]
    assert sum(end.values()) == pytest.approx(1.0)
    assert max(end, key=end.get).endswith("+expert") and (tmp_path / "run" / "probabilities.png").stat().st_size > 1000
    # the bank grew with the kept rows, each carrying its pair, score and tags; memory_search sees them
    assert rep["counts"]["memory_added"] == 4
    hit = MemoryBank(ctx.memory_path).search("How are crepes made?", k=1)[0]
    assert hit["pair"] == rows[0]["pair"] and hit["data_score"] == pytest.approx(rows[0]["score"])
    assert "star-agents" in hit["tags"]
    # the pancakes seed (third): its nearest bank rows are the first two kept rows; l=1 of its pairs came
    # from their pairs (base pairs are always called, so never drawn), the other M - l from p_jk
    pancakes = json.loads((tmp_path / "run" / "seeds" / "00002.json").read_text())
    assert {n["instruction"] for n in pancakes["neighbours"]} <= {r["messages"][0]["content"] for r in rows[:2]}
    drawable = {n["pair"] for n in pancakes["neighbours"]} & set(rep["probabilities"]["start"])
    from_memory = [p for p, src in pancakes["sampled"] if src == "memory"]
    assert len(pancakes["sampled"]) == 3 and len(from_memory) == (1 if drawable else 0) and set(from_memory) <= drawable


def test_without_a_large_model_the_judge_alone_ranks_and_beta_zero_freezes_p(tmp_path, star_models):
    ctx = star_context(tmp_path, star_beta=0.0, star_m=2, star_l=0)
    _, _, values = run(tmp_path, ctx, SEEDS[:2])
    rep = values["report"]
    assert rep["score_kinds"] == {"judge (no star_large_model)": 2}
    assert rep["probabilities"]["end"] == pytest.approx(rep["probabilities"]["start"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert all(r["dual_ifd"] is None and r["score"] in (0.5, 1.0) for r in rows)


def test_m_zero_calls_only_the_base_pair(tmp_path, star_models):
    policy, _ = star_models
    ctx = star_context(tmp_path, star_m=0, star_l=0)
    _, _, values = run(tmp_path, ctx, SEEDS[:2])
    assert values["report"]["counts"]["candidates"] == 2 and values["report"]["counts"]["improved"] == 0
    assert policy.calls == 0  # keep+seed: the seed row itself, nothing generated, nothing judged


def test_an_interrupted_run_resumes_after_the_last_finished_seed(tmp_path, star_models):
    policy, _ = star_models
    calls = {"n": 0}

    def crash_on_third_seed(messages):
        if SEEDS[2]["instruction"] in messages[-1]["content"] and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("power cut")
        return agent_model(messages)

    policy.respond = crash_on_third_seed
    ctx = star_context(tmp_path, star_m=2, star_l=0)
    from graph.runs import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    with pytest.raises(RuntimeError, match="power cut"):
        run(tmp_path, ctx, store=store)
    thread = store.list(1)[0].thread
    snap = store.snapshot(thread)
    assert len(snap.values["done"]) == 2 and snap.next == ("seed",)  # seeds 1 and 2 are finished
    seen_before = len(policy.history)
    values = store.resume(thread)
    assert values["report"]["counts"]["seeds"] == 4
    # seeds 1 and 2 never reached a model again: every prompt after the resume is about seeds 3 and 4
    after = [m[-1]["content"] for m in policy.history[seen_before:]]
    assert not any(SEEDS[0]["instruction"] in t or SEEDS[1]["instruction"] in t for t in after)
    assert sum(SEEDS[3]["instruction"] in t for t in after) > 0
    assert [d["index"] for d in values["done"]] == [0, 1, 2, 3]  # counted once each


def test_cli_runs_resumes_and_refuses_a_malformed_seed_file(tmp_path, star_models):
    from click.testing import CliRunner

    from cli import main

    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok", "output": "fine"}\n{"instruction": "broken"\n')
    res = runner.invoke(main, ["star-agents", "--seed-data", str(bad), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "bad.jsonl: line 2: not valid JSON" in res.output and "Alpaca" in res.output
    nores = tmp_path / "nores.json"
    nores.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "no answer"}]))
    res = runner.invoke(main, ["star-agents", "--seed-data", str(nores)])
    assert res.exit_code == 1 and "item 1" in res.output and "output (or response)" in res.output
    good = tmp_path / "seeds.json"
    good.write_text(json.dumps(SEEDS))
    args = ["star-agents", "--seed-data", str(good), "--limit", "2", "--out", str(tmp_path / "cli"), "--policy", "fake:star",
            "--judge", "fake:star", "--db", str(tmp_path / "c.sqlite"), "--no-cache", "--set", "judge_reading=text",
            "--set", f"memory_path={tmp_path / 'bank'}"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["counts"]["seeds"] == 2 and "seed 2/2: kept" in res.output
    assert (tmp_path / "cli" / "report.md").read_text().startswith("# Star-Agents on seeds.json")
    again = runner.invoke(main, ["star-agents", "--resume", out["thread"], "--db", str(tmp_path / "c.sqlite")])
    assert again.exit_code == 0 and json.loads(again.output[again.output.index("{"):])["counts"]["seeds"] == 2
    assert math.isclose(sum(out["probabilities"].values()), 1.0)


def test_training_sets_and_held_out_files(tmp_path, star_models, shared_data):
    from graph.star_agents.outputs import held_out_items, records, training_sets

    ctx = star_context(tmp_path, star_m=3, star_l=0)
    _, _, values = run(tmp_path, ctx)
    recs = records(ctx.run_dir, values["done"])
    sets = training_sets(recs)
    assert [r["messages"][1]["content"] for r in sets["curated"]] == [r["candidates"][r["kept"]]["response"] for r in recs]
    assert [r["response"] for r in sets["seed"]] == [s.get("output") or s.get("response") for s in SEEDS]
    assert len(sets["random"]) == sum(r["random"] is not None for r in recs) > 0
    assert all(r["pair_source"] != "base" for r in sets["random"])  # a random *generated* candidate, never the seed
    # held-out files: Vicuna's turns, WizardLM's Instruction; the first N
    vicuna = held_out_items(shared_data / "vicuna-bench" / "question.jsonl", 3)
    assert len(vicuna) == 3 and vicuna[0]["instruction"] == "How can I improve my time management skills?"
    assert held_out_items(shared_data / "wizardlm-testset" / "WizardLM_testset.jsonl", 1)[0]["instruction"].startswith("If a car")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": 1}\n')
    with pytest.raises(ValueError, match="item 0: no instruction"):
        held_out_items(bad, 5)


def test_held_out_comparison_trains_curated_seed_and_random_and_evaluates_them(tmp_path, star_models, monkeypatch):
    import trainers.sft

    trained = {}

    def fake_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained[out_dir.name] = list(rows)
        return out_dir / "adapter"

    monkeypatch.setattr(trainers.sft, "run_sft", fake_sft)
    policy = star_models[0]
    policy.respond = lambda m: "An answer." if len(m) == 1 else agent_model(m)  # held-out questions come alone
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps({"instruction": q}) + "\n" for q in ("How do I boil an egg?", "What is rain?")))
    ctx = star_context(tmp_path, star_large_model="fake:large", star_m=2, star_l=0, star_held_out=str(held))
    _, _, values = run(tmp_path, ctx, SEEDS[:2])
    rep = values["report"]
    assert set(trained) == {"curated", "seed", "random"} and len(trained["curated"]) == len(trained["seed"]) == 2
    assert 1 <= len(trained["random"]) <= 2  # one model-written candidate per seed that has one
    assert trained["seed"][0]["response"] == SEEDS[0]["output"]  # the seed rows, untouched
    methods = {m["method"]: m for m in rep["evaluation"]["methods"]}
    assert set(methods) == {"curated", "seed", "random"} and all(m["n"] == 2 for m in methods.values())
    assert (tmp_path / "run" / "eval" / "eval_report.md").exists()


def test_with_checks_the_verifier_decides_before_the_judge(tmp_path, star_models):
    """A seed that must be all lowercase: the base pair's own response fails, every sampled answer is
    checked; only candidates with a passing answer are scored, and the rewrites state the check."""
    policy, _ = star_models
    lower = [{"id": "change_case:english_lowercase", "kwargs": {}}]
    words = "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."
    answered = []

    def model(messages):
        system, user = messages[0]["content"], messages[-1]["content"]
        if user.startswith("[User Question]") or user.startswith("Rewrite the instruction"):
            return agent_model(messages)
        answered.append(user)
        if system == prompts.STAR_SYSTEM_EXPERT:  # every other sample in lowercase
            return "expert answer, in lowercase." if len(answered) % 2 == 0 else "EXPERT Answer."
        return agent_model(messages)  # capitals: never passes

    policy.respond = model
    seeds = [{"instruction": "Name three primary colors.", "output": "Red, blue and yellow.", "checks": lower}]
    ctx = star_context(tmp_path, star_m=0, star_l=0, verify_samples=4, check_edits=False,
                       star_base_pairs=["keep+seed", "keep+steps", "clarify+expert", "keep+expert"])
    _, _, values = run(tmp_path, ctx, seeds)
    record = json.loads((tmp_path / "run" / "seeds" / "00000.json").read_text())
    cands = record["candidates"]
    assert cands[0]["status"] == "failed checks" and "change_case:english_lowercase x1" in cands[0]["reason"]
    ok = [c for c in cands if c["status"] == "ok"]
    assert [c["pair"] for c in ok] == ["clarify+expert", "keep+expert"]
    assert all(c["response"] == "expert answer, in lowercase." for c in ok)
    assert cands[1]["status"] == "failed checks" and "x4" in cands[1]["reason"]  # keep+steps: 4 samples, none passed
    assert all(c.get("score") is None for c in cands if c["status"] != "ok")
    for c in cands:  # a rewrite states the seed's check; the seed's own instruction is left as it is
        if c["models"]["instruction"] and c["status"] == "ok":
            assert c["instruction"].endswith(words)
    # the reference is the first candidate that passed (the base pair's own failed): it scores 0.5
    assert ok[0]["verdict"] == "reference" and ok[1]["verdict"] in ("A", "B", "tie")
    kept = cands[record["kept"]]
    assert kept["status"] == "ok" and kept["response"] == "expert answer, in lowercase."
    assert values["report"]["counts"]["failed_checks"] == sum(c["status"] == "failed checks" for c in cands) > 0
    samples = [p for p in policy.params if p.n == 4]
    assert samples, "sampling response agents answer verify_samples times on a seed with checks"


def test_a_seed_with_a_bad_check_is_refused_naming_the_item():
    from graph.star_agents.graph import check_seeds
    from scoring.verify import CheckError

    with pytest.raises(CheckError, match=r"seeds.json: item 1: check 1: .*change_case:english_lowercase"):
        check_seeds([{"instruction": "a", "output": "b"},
                     {"instruction": "c", "output": "d", "checks": [{"id": "change_case:english_lowercas"}]}], "seeds.json")
