"""Tasks that say what a good answer is: check-carrying task files, the verify curation step,
verified demonstrations (rejection sampling on the task's checks), IFEval dev-suite tasks.
lm-eval's real IFEval checkers throughout."""

from __future__ import annotations

import json

import pytest
import yaml

from graph.context import Context
from graph.improve.curate import verify
from graph.tasks.load import TaskError, load_task

LOWER = {"id": "change_case:english_lowercase"}
NO_COMMA = {"id": "punctuation:no_comma"}


def write(tmp_path, data) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_check_carrying_task_file_round_trips(tmp_path):
    task = load_task(write(tmp_path, {
        "name": "quiet", "checks": [LOWER],
        "observed": ["Describe a cat.", {"instruction": "Describe a dog without commas.", "checks": [NO_COMMA]}],
        "held_out": ["Describe a bird.", {"instruction": "Describe a fish without commas.", "checks": [NO_COMMA]}]}))
    lower, no_comma = {**LOWER, "kwargs": {}}, {**NO_COMMA, "kwargs": {}}
    assert task["checks"] == [lower]
    assert task["observed_checks"] == {"Describe a cat.": [lower], "Describe a dog without commas.": [no_comma, lower]}
    assert task["held_out"] == [{"instruction": "Describe a bird.", "checks": [lower]},
                                {"instruction": "Describe a fish without commas.", "checks": [no_comma, lower]}]
    assert task["observed"] == ["Describe a cat.", "Describe a dog without commas."]


def test_an_unknown_check_id_or_kwarg_is_a_clear_error_naming_the_file_and_item(tmp_path):
    with pytest.raises(TaskError, match=r"held_out\[1\].*unknown check id 'change_case:lowercase'; did you mean "
                                        r"change_case:english_lowercase"):
        load_task(write(tmp_path, {"observed": ["a"], "held_out": ["b", {"instruction": "c",
                                                                          "checks": [{"id": "change_case:lowercase"}]}]}))
    with pytest.raises(TaskError, match=r"task.yaml: checks: check 1: punctuation:no_comma takes no kwarg\(s\) commas"):
        load_task(write(tmp_path, {"observed": ["a"], "held_out": ["b"], "checks": [{**NO_COMMA, "kwargs": {"commas": 0}}]}))


def test_verify_keeps_a_compliant_and_drops_a_non_compliant_response_naming_the_check():
    rows = [{"type": "demonstration", "instruction": "Describe the sea.", "checks": [LOWER, NO_COMMA],
             "response": "the sea is wide and deep and blue and it moves all day long under the sky."},
            {"type": "demonstration", "instruction": "Describe the sea.", "checks": [LOWER, NO_COMMA],
             "response": "The sea is wide, deep and blue, and it moves all day long under the sky."},
            {"type": "document", "title": "Sea", "text": "The sea, Earth's ocean."}]
    kept, dropped = verify(rows, Context())
    assert [r.get("response") or r.get("text") for r in kept] == [rows[0]["response"], rows[2]["text"]]
    [(row, why)] = dropped
    assert row["response"].startswith("The sea is wide,")
    assert why == "fails the check(s) change_case:english_lowercase, punctuation:no_comma"


def test_verified_demonstrations_keep_only_samples_that_pass_and_report_the_pass_rate(tmp_path, fake_llm):
    from tools import call_tool

    fake_llm("policy").script("the town is quiet tonight, and the people are sleeping.", "the town is quiet tonight and the people are sleeping in their houses.",
                                       "The Town Is Quiet Tonight And The People Are Sleeping In Their Houses.", "the town is quiet tonight and the people are sleeping in their houses.")
    ctx = Context(policy="fake:policy", cache_path=str(tmp_path / "c.sqlite"), verify_samples=4, check_edits=False)
    res = call_tool("demonstration_generation", "Say that it is quiet.", ctx, checks=[LOWER, NO_COMMA])
    assert res.ok and [r["response"] for r in res.rows] == ["the town is quiet tonight and the people are sleeping in their houses."]
    assert res.rows[0]["instruction"] == "Say that it is quiet." and res.rows[0]["provenance"]["verified"]
    assert res.provenance["samples"] == 4 and res.provenance["passed"] == 2 and res.provenance["pass_rate"] == 0.5
    assert res.provenance["failing"] == {"punctuation:no_comma": 1, "change_case:english_lowercase": 1}
    none = fake_llm("policy").script(*["LOUD."] * 4)
    bad = call_tool("demonstration_generation", "Shout.", Context(policy="fake:policy", cache_path=str(tmp_path / "d.sqlite"),
                                                                    verify_samples=4, check_edits=False), checks=[LOWER])
    assert not bad.ok and "no sample of 4 passed the task's checks" in bad.error and none.calls == 2  # one call each


def test_a_task_with_checks_buys_verified_demonstrations_of_observed_instructions_only(tmp_path, fake_llm, monkeypatch):
    from langgraph.checkpoint.memory import InMemorySaver

    import trainers.sft
    from graph.improve.graph import builder

    trained = {}

    def run_sft(cfg, rows, out_dir, base, recipe=None, llm=None):  # the fake policy has no weights to train
        trained.update(rows=list(rows), recipe=recipe)
        return tmp_path / "adapter"

    monkeypatch.setattr(trainers.sft, "run_sft", run_sft)

    observed = ["Describe a cat in a short lowercase sentence.", "Describe a dog in a short lowercase sentence."]
    held = [{"instruction": "Describe a cow in a short lowercase sentence.", "checks": [LOWER]},
            {"instruction": "Describe a hen in a short lowercase sentence.", "checks": [LOWER]}]
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")
    optimizer.respond = lambda m: "<api_calls>none</api_calls>"
    policy.respond = lambda m: "the animal sleeps in the warm sun all day long."
    judge.respond = lambda m: "Quality: 8\nFollowing: 8"
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                        cache_path=str(tmp_path / "c.sqlite"), memory_path=str(tmp_path / "m"), verify_samples=2,
                        judge_reading="text", sft_min_rows=0)  # a handful of rows: the default 15 would not train
    out = builder.compile(checkpointer=InMemorySaver()).invoke(
        {"task": "animals", "observed": observed, "held_out": held, "checks": [LOWER]},
        {"configurable": {"thread_id": "t"}, "recursion_limit": 100}, context=ctx)
    rep = out["report"]
    assert [(c["name"], c["argument"]) for c in rep["api_calls"]][:2] == [("demonstration_generation", o) for o in observed]
    [analysis] = [m[-1]["content"] for m in optimizer.history if "Write one more instruction" not in m[-1]["content"]]
    assert "Your entire response should be in English, and in all lowercase letters" in analysis
    data = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    assert data and all(r["instruction"] in observed or r["instruction"] not in {h["instruction"] for h in held} for r in data)
    assert not {h["instruction"] for h in held} & {r["instruction"] for r in data}  # held-out never enter the data
    assert all(r["provenance"].get("verified") for r in data if r["instruction"] in observed)
    # the default update (auto) on a task with checks: LoRA SFT with the small-set recipe, on the verified rows
    assert (rep["update"], rep["update_setting"]) == ("sft", "auto") and rep["sft_recipe"].endswith("recipes/sft_lora_small.yaml")
    assert trained["rows"] and [r["response"] for r in trained["rows"]] == [r["response"] for r in data]
    assert all(r["provenance"].get("verified") for r in trained["rows"])
    assert "update **sft** (update=auto: the task carries checks" in (tmp_path / "run" / "report.md").read_text()


def test_ifeval_tasks_are_grouped_by_instruction_id_with_their_checks(tmp_path, shared_data):
    from graph.tasks.build import build

    manifest = build(shared_data / "ifeval" / "input_data.jsonl", tmp_path / "ifeval", name="ifeval",
                     label="instruction_id", seed=0, max_held_out=12, log=lambda m: None)
    files = sorted((tmp_path / "ifeval").glob("*/*.yaml"))
    assert len(files) == len(manifest["tasks"]) >= 10
    task = load_task(files[0])
    assert task["held_out"] and all(h.get("checks") for h in task["held_out"])
    first = yaml.safe_load(files[0].read_text())
    group = first["checks"][0]["id"] if first.get("checks") else None
    assert group is None or all(group in [c["id"] for c in h["checks"]] for h in task["held_out"])


def test_anticipated_instructions_take_the_checks_of_the_observed_instruction_most_like_them(tmp_path, fake_llm):
    """No task-level checks: each instruction the optimizer anticipates is stated and verified with
    the checks of its nearest observed instruction; the held-out ones never enter the data."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.improve.graph import builder
    from scoring.verify import failed_checks

    words = {"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 8}}
    observed = ["Describe a cat in lowercase letters only.", "Name a river, in fewer than 8 words."]
    observed_checks = {observed[0]: [LOWER], observed[1]: [words]}
    held = [{"instruction": "Describe a cow in lowercase letters only.", "checks": [LOWER]},
            {"instruction": "Name a mountain, in fewer than 8 words.", "checks": [words]}]
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")

    def optimizer_reply(messages):
        text = messages[-1]["content"]
        if "Write one more instruction" in text:  # TASK_AUGMENT_PROMPT: the anticipated instructions
            return "1. Instruction: Write a short poem about the sea, using lowercase letters only.\n1. Input:\n<noinput>\n###"
        return "<api_calls>none</api_calls>"

    optimizer.respond = optimizer_reply
    policy.respond = lambda m: ("the animal sleeps in the warm sun all day long." if "lowercase" in m[-1]["content"]
                                else "The Thames.")
    judge.respond = lambda m: "Quality: 8\nFollowing: 8"
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                        cache_path=str(tmp_path / "c.sqlite"), memory_path=str(tmp_path / "m"), verify_samples=2,
                        judge_reading="text", anticipate=1, update="icl-knn")
    out = builder.compile(checkpointer=InMemorySaver()).invoke(
        {"task": "short", "observed": observed, "held_out": held, "observed_checks": observed_checks},
        {"configurable": {"thread_id": "t"}, "recursion_limit": 100}, context=ctx)
    rep = out["report"]
    stated = ("Write a short poem about the sea, using lowercase letters only. Your entire response should be in English, "
              "and in all lowercase letters. No capital letters are allowed.")
    assert rep["anticipated"] == [stated]
    calls = [(c["name"], c["argument"]) for c in rep["api_calls"]]
    assert calls[:3] == [("demonstration_generation", o) for o in observed] + [("demonstration_generation", stated)]
    data = [json.loads(line) for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()]
    horse = [r for r in data if r["instruction"] == stated]
    assert horse and all(r["checks"] == [LOWER] and not failed_checks(r["checks"], r["response"])
                         for r in horse)
    assert not {h["instruction"] for h in held} & {r["instruction"] for r in data}


def test_anticipated_checks_type_keeps_only_the_checks_every_observed_instruction_carries():
    """anticipated_checks=type: the nearest observed instruction's second check (its keywords) is
    neither stated nor verified; nearest (the default) keeps it; observed instructions sharing no
    check id leave the nearest's whole set. The task's own checks are added either way."""
    from graph.improve.gather import attach_checks

    json_ = {"id": "detectable_format:json_format", "kwargs": {}}
    kw = {"id": "keywords:existence", "kwargs": {"keywords": ["compensated", "immigrants"]}}
    words = {"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 80}}
    observed = {"Describe working abroad in JSON.": [json_, kw], "List three moms in JSON.": [json_]}
    q = "Describe studying abroad in JSON."
    nearest = attach_checks([q], observed, [words])
    typed = attach_checks([q], observed, [words], only_type=True)
    [(asked_n, checks_n)], [(asked_t, checks_t)] = nearest.items(), typed.items()
    assert checks_n == [json_, kw, words] and "compensated" in asked_n
    assert checks_t == [json_, words] and "compensated" not in asked_t and "JSON" in asked_t
    apart = {"Describe working abroad in JSON.": [json_, kw], "Name a river.": [LOWER]}
    [(_, checks)] = attach_checks([q], apart, [], only_type=True).items()
    assert checks == [json_, kw]


def test_anticipated_checks_type_reaches_the_plan_the_calls_and_the_rows(tmp_path, fake_llm):
    """The setting, through the graph: with anticipated_checks=type the anticipated instruction is
    asked and verified with the type both observed instructions carry, not the nearest's word limit."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.improve.graph import builder

    words = {"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 8}}
    observed = ["Describe a cat in lowercase letters only, in fewer than 8 words.", "Name a river in lowercase letters only."]
    observed_checks = {observed[0]: [LOWER, words], observed[1]: [LOWER]}
    held = [{"instruction": "Describe a cow in lowercase letters only.", "checks": [LOWER]}]
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")

    def optimizer_reply(messages):
        if "Write one more instruction" in messages[-1]["content"]:
            return "1. Instruction: Describe a dog in lowercase letters only, in a few words.\n1. Input:\n<noinput>\n###"
        return "<api_calls>none</api_calls>"

    optimizer.respond = optimizer_reply
    policy.respond = lambda m: "the dog runs in the warm sun all day long and sleeps at night by the fire."
    judge.respond = lambda m: "Quality: 8\nFollowing: 8"
    asked = {}
    for mode in ("nearest", "type"):
        ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge",
                            run_dir=str(tmp_path / mode), cache_path=str(tmp_path / f"{mode}.sqlite"),
                            memory_path=str(tmp_path / f"m-{mode}"), verify_samples=2, judge_reading="text",
                            anticipate=1, update="icl-knn", check_edits=False, anticipated_checks=mode)
        out = builder.compile(checkpointer=InMemorySaver()).invoke(
            {"task": "short", "observed": observed, "held_out": held, "observed_checks": observed_checks},
            {"configurable": {"thread_id": "t"}, "recursion_limit": 100}, context=ctx)
        [asked[mode]] = out["report"]["anticipated"]
        data = [json.loads(line) for line in (tmp_path / mode / "dataset.jsonl").read_text().splitlines()]
        asked[mode + " rows"] = [r["checks"] for r in data if r["instruction"] == asked[mode]]
    # nearest: the word limit is stated and verified, and the 18-word samples fail it (edits off)
    assert asked["nearest"].endswith("Answer with less than 8 words.") and asked["nearest rows"] == []
    assert "less than 8 words" not in asked["type"] and asked["type rows"]
    assert all(c == [LOWER] for c in asked["type rows"])


def test_answers_to_instructions_with_checks_get_checks_max_new_tokens(tmp_path, fake_llm):
    from graph.heldout import original_answers

    policy = fake_llm("policy")
    policy.respond = lambda m: "an answer"
    ctx = Context.build(policy="fake:policy", eval_max_new_tokens=17, checks_max_new_tokens=99, generation_cache=False,
                        cache_path=str(tmp_path / "c.sqlite"))
    original_answers(ctx, [{"instruction": "Describe a cat.", "checks": [LOWER]}])
    assert policy.params[-1].max_new_tokens == 99
    original_answers(ctx, [{"instruction": "Capital of Zorbia?", "answers": ["Quxton"]}])
    assert policy.params[-1].max_new_tokens == 17


def test_a_task_mixing_items_with_and_without_checks_gives_the_long_limit_to_those_with_checks_only(tmp_path, fake_llm):
    from graph.heldout import original_answers

    policy = fake_llm("policy")
    policy.respond = lambda m: f"answer to {m[-1]['content']}"
    ctx = Context.build(policy="fake:policy", eval_max_new_tokens=17, checks_max_new_tokens=99, generation_cache=False,
                        cache_path=str(tmp_path / "c.sqlite"))
    items = [{"instruction": "Capital of Zorbia?", "answers": ["Quxton"]}, {"instruction": "Describe a cat.", "checks": [LOWER]},
             {"instruction": "River of Zorbia?", "answers": ["Vel"]}]
    answers = original_answers(ctx, items)
    assert answers == [f"answer to {it['instruction']}" for it in items]  # in the items' order
    assert sorted(p.max_new_tokens for p in policy.params[-2:]) == [17, 99]  # one batch per limit


def test_verified_demonstrations_get_checks_max_new_tokens_and_topic_demonstrations_max_new_tokens(tmp_path, fake_llm):
    from tools import call_tool

    policy = fake_llm("policy")
    policy.respond = lambda m: "the town is quiet tonight."
    ctx = Context(policy="fake:policy", cache_path=str(tmp_path / "c.sqlite"), verify_samples=2, max_new_tokens=33,
                  checks_max_new_tokens=99, generation_cache=False)
    assert call_tool("demonstration_generation", "Say that it is quiet.", ctx, checks=[LOWER]).ok
    assert policy.params[-1].max_new_tokens == 99  # the room a held-out answer with checks gets
    call_tool("demonstration_generation", "quiet towns", ctx)
    assert policy.params[-1].max_new_tokens == 33


def test_update_auto_is_sft_with_the_small_recipe_on_a_task_with_checks_and_icl_knn_otherwise():
    from graph.improve.gather import sft_recipe, update_kind
    from trainers.recipe import DEFAULT_RECIPES, RECIPES_DIR, load_recipe

    ctx = Context()
    assert ctx.update == "auto"
    on_task = {"checks": [LOWER]}
    on_observed = {"observed_checks": {"Say hi.": [NO_COMMA]}}
    on_items = {"held_out": [{"instruction": "Say hi.", "checks": [LOWER]}]}
    plain = {"held_out": [{"instruction": "Capital of France?", "answers": ["Paris"]}]}
    for state in (on_task, on_observed, on_items):
        assert update_kind(ctx, state) == "sft" and sft_recipe(ctx, state) == str(RECIPES_DIR / "sft_lora_small.yaml")
    assert update_kind(ctx, plain) == "icl-knn" and sft_recipe(ctx, plain) is None
    # the small recipe takes a step per row (the default one per 8) and exists where the default points
    small, default = load_recipe("sft", None, sft_recipe(ctx, on_task)), load_recipe("sft", None, RECIPES_DIR / DEFAULT_RECIPES["sft"])
    assert small.get("gradient_accumulation_steps") == 1 < default.get("gradient_accumulation_steps")
    # what the user sets wins
    assert update_kind(Context(update="icl-knn"), on_task) == "icl-knn" and update_kind(Context(update="sft"), plain) == "sft"
    assert sft_recipe(Context(sft_recipe="mine.yaml"), on_task) == "mine.yaml"


def test_under_update_auto_the_settings_of_icl_knn_are_accepted_and_kept_by_variants():
    from graph.options import ConfigError

    ctx = Context.build(knn_rows=2)  # update auto may resolve to icl-knn
    assert ctx.update == "auto" and ctx.variant(seed=1).knn_rows == 2
    assert ctx.variant(update="sft").knn_rows == 4  # an sft variant never reads it: back to its default
    with pytest.raises(ConfigError, match="knn_rows is a setting of the update 'icl-knn'"):
        Context.build(update="sft", knn_rows=2)


@pytest.mark.parametrize("trained_answer, gate, kept, gate_checks, min_rows", [
    ("the animal sleeps in the warm sun.", "gain", True, "observed", 0),   # passes more gate instructions: kept
    ("the animal sleeps in the warm sun.", "gain", True, "redrawn", 0),    # (lowercase has no parameter to redraw)
    ("The Animal Sleeps In The Sun.", "gain", False, "observed", 0),       # no more: set aside, the policy left as it was
    ("The Animal Sleeps In The Sun.", "no-loss", True, "observed", 0),     # no fewer: kept
    ("the animal sleeps in the warm sun.", "strict", True, "observed", 0),  # more, and none failed that passed: kept
    ("The Animal Sleeps In The Sun.", "strict", False, "observed", 0),     # no more: set aside
    ("The Animal Sleeps In The Sun.", "off", True, "observed", 0),         # not asked: kept, no gate instruction written
    ("the animal sleeps in the warm sun.", "gain", False, "observed", 100),  # too few rows: never trained, nothing to gate
])
def test_the_gate_keeps_an_update_only_if_it_passes_more_of_the_runs_own_new_instructions(
        tmp_path, fake_llm, monkeypatch, trained_answer, gate, kept, gate_checks, min_rows):
    from langgraph.checkpoint.memory import InMemorySaver

    import llms.factory
    import trainers.sft
    from graph.improve.graph import builder
    from tests.fakes import ScriptedLLM

    trainings = []
    monkeypatch.setattr(trainers.sft, "run_sft", lambda cfg, rows, out_dir, base, recipe=None, llm=None:
                        trainings.append(rows) or tmp_path / "adapter")
    trained = ScriptedLLM(spec=f"fake:policy+{tmp_path / 'adapter'}")  # the policy with the adapter
    trained.respond = lambda m: trained_answer
    bare = llms.factory._BACKENDS["fake"]
    monkeypatch.setitem(llms.factory._BACKENDS, "fake", lambda ms, **o: trained if ms.adapter else bare(ms, **o))

    observed = ["Describe a cat in lowercase letters only.", "Describe a dog in lowercase letters only."]
    held = [{"instruction": "Describe a cow in lowercase letters only.", "checks": [LOWER]},
            {"instruction": "Describe a hen in lowercase letters only.", "checks": [LOWER]}]
    optimizer, policy, judge = fake_llm("optimizer"), fake_llm("policy"), fake_llm("judge")
    written = iter(["Write a short poem about the sea using lowercase letters only.",
                    "Explain how bread rises, all in lowercase.", "List three winter sports; no capital letters at all.",
                    "Tell a joke about computers in lowercase.", "Summarize why plants need sunlight, in lowercase.",
                    "Give advice to a new student, lowercase only.", "Name two rivers of Europe in small letters.",
                    "Describe your favourite meal without capitals.", "Suggest a weekend plan for a family in lowercase.",
                    "Compare trains and buses, all lowercase.", "Write a thank you note to a teacher in lowercase.",
                    "State a fun fact about owls, lowercase."] * 3)

    def optimizer_reply(messages):
        if "Write one more instruction" in messages[-1]["content"]:  # anticipated and gate instructions, each new
            return f"1. Instruction: {next(written)}\n1. Input:\n<noinput>\n###"
        return "<api_calls>none</api_calls>"

    optimizer.respond = optimizer_reply
    policy.respond = lambda m: "The Animal Sleeps In The Sun."  # fails: the verified rows are its samples edited to lowercase
    judge.respond = lambda m: "Quality: 8\nFollowing: 8"
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "run"),
                        cache_path=str(tmp_path / "c.sqlite"), memory_path=str(tmp_path / "m"), verify_samples=2,
                        judge_reading="text", anticipate=1, gate=gate, gate_items=3, gate_checks=gate_checks,
                        sft_min_rows=min_rows)
    out = builder.compile(checkpointer=InMemorySaver()).invoke(
        {"task": "animals", "observed": observed, "held_out": held, "observed_checks": {o: [LOWER] for o in observed}},
        {"configurable": {"thread_id": "t"}, "recursion_limit": 100}, context=ctx)
    rep = out["report"]
    updated = json.loads((tmp_path / "run" / "trajectory.json").read_text())["updated"]
    g = rep["gate"]
    if min_rows:  # fewer rows than sft_min_rows: nothing trained, the policy as it was, the report says why
        assert not trainings and updated["rows_used"] == 0 and updated["policy"] == "fake:policy"
        assert 0 < updated["rows_available"] < min_rows and g["applied"] is False
        assert (rep["accuracy"]["gained"], rep["accuracy"]["lost"]) == (0, 0)
        assert f"fewer than sft_min_rows={min_rows}" in (tmp_path / "run" / "report.md").read_text()
        return
    assert len(trainings) == 1
    if gate == "off":  # the update is kept as trained (gain sets this one aside), with no gate record
        assert g == {"setting": "off", "applied": False, "reason": "gate=off"} and "gate" not in updated
        assert updated["policy"] == trained.spec and "set_aside" not in updated
        assert "- gate" not in (tmp_path / "run" / "report.md").read_text()
        return
    assert g["applied"] and g["items"] == 3 and g["kept"] is kept, updated.get("gate")
    assert g["original_passed"] == 0 and g["updated_passed"] == (3 if trained_answer.islower() else 0)
    # the gate's instructions: new, in the observed style, with the nearest observed instruction's checks,
    # none of them bought, anticipated or held out; the optimizer never saw a held-out instruction
    record = updated["gate"]
    asked = [i["instruction"] for i in record["instructions"]]
    data = {json.loads(line)["instruction"] for line in (tmp_path / "run" / "dataset.jsonl").read_text().splitlines()}
    assert len(set(asked)) == 3 and not set(asked) & (data | set(rep["anticipated"]) | {h["instruction"] for h in held})
    assert all(i["checks"] == [LOWER["id"]] and i["kwargs"] == [{}] for i in record["instructions"])
    assert not any(h["instruction"] in m["content"] for msgs in optimizer.history for m in msgs for h in held)
    if kept:
        assert updated["policy"] == trained.spec and rep["accuracy"]["updated"] == (1.0 if trained_answer.islower() else 0.0)
    else:  # the policy the run started from answers the held-out items: no change, not a loss
        assert updated["policy"] == "fake:policy" and updated["set_aside"]["policy"] == trained.spec
        assert (rep["accuracy"]["gained"], rep["accuracy"]["lost"]) == (0, 0)
        assert "the policy is left as it was" in (tmp_path / "run" / "report.md").read_text()


def test_gate_rules_strict_sets_aside_an_update_that_breaks_what_the_policy_passed():
    """(updated passed, original passed, lost) -> kept, per gate: 6 of 8 against 5 with one lost is
    a gain that strict sets aside (IFEval test, seed 2, highlighted sections: 2 gained / 3 lost)."""
    from graph.improve.gate import keeps

    cases = {(6, 5, 1): {"gain": True, "strict": False, "no-loss": True},
             (1, 0, 0): {"gain": True, "strict": True, "no-loss": True},
             (4, 4, 0): {"gain": False, "strict": False, "no-loss": True},
             (3, 4, 2): {"gain": False, "strict": False, "no-loss": False}}
    for (up, orig, lost), want in cases.items():
        assert {g: keeps(g, up, orig, lost) for g in want} == want, (up, orig, lost)


def test_redrawn_gate_checks_ask_the_same_constraint_with_other_parameters_and_keep_the_tasks_own():
    import random

    from graph.improve.gate import redrawn
    from scoring.verify import describe_checks, redraw_checks

    keywords = {"id": "keywords:existence", "kwargs": {"keywords": ["festival", "river"]}}
    json_always = {"id": "detectable_format:json_format", "kwargs": {}}
    letters = {"id": "keywords:letter_frequency", "kwargs": {"letter": "e", "let_frequency": 4, "let_relation": "at least"}}
    state = random.getstate()
    once, again = redraw_checks([keywords, letters, LOWER], seed=5), redraw_checks([keywords, letters, LOWER], seed=5)
    assert random.getstate() == state and once == again  # seeded, and the random module left as it was
    assert [c["id"] for c in once] == [keywords["id"], letters["id"], LOWER["id"]] and once[2] == LOWER
    assert once[0]["kwargs"]["keywords"] != keywords["kwargs"]["keywords"] and once[1]["kwargs"] != letters["kwargs"]
    assert redraw_checks([keywords], seed=5, keep=[keywords]) == [keywords]

    # the optimizer copied the observed keyword sentence into its instruction: it goes, the new one is stated
    old = describe_checks([keywords])[0]
    asked, fresh = redrawn(f"Write a song about Rochester. {old}", [keywords, json_always], [json_always], seed=5)
    new = describe_checks(fresh[:1])[0]
    assert fresh[1] == json_always and fresh[0]["kwargs"] != keywords["kwargs"]
    assert old not in asked and asked == f"Write a song about Rochester. {new}"  # the task's own check is not restated
