"""The self-improve (I-SHEEP) graph driven by scripted models: every stage, every setting, resume.

Each model spec (the base, and the base + each iteration's adapter) is its own scripted model, so
a test sees which model wrote, answered and rated what. Training is faked at the trainer (a LoRA
run takes minutes; tests/test_graph_self_improve_real.py trains for real).
"""

from __future__ import annotations

import json

import pytest

import llms
from graph.context import Context
from graph.options import ConfigError
from graph.runs import RunStore
from tests.fakes import ScriptedLLM

SEEDS = [{"id": f"s{k}", "instruction": text, "input": ""} for k, text in enumerate([
    "Give three tips for staying healthy.", "Translate the sentence into French.", "Sort the numbers in ascending order.",
    "Write a limerick about a cat.", "Explain what a prime number is."])]
HELD_OUT = [{"instruction": "What is the capital of Zorbia?", "answers": ["Quxton"]},
            {"instruction": "Name the capital of Quxland.", "answers": ["Velmar"]}]
# what the scripted models write when asked for a new task, in turn (the heuristics see all kinds)
NEW_TASKS = ["Name three rivers in Europe and their lengths.", "Draw a map of Spain with its regions.",
             "Summarize the story of Hamlet in two sentences.", "!!! what is this",
             "Explain why the sky appears blue during the day.", "Explain why the sky appears blue during the day time.",
             "Classify the sentiment of the review as positive or negative.", "Hi.",
             "List four uses of baking soda at home.", "Describe how a bicycle gear system works."]
LATER_TASKS = ["Write a haiku about autumn leaves.", "Convert twenty degrees Celsius to Fahrenheit.",
               "Suggest a name for a small bakery in Paris.", "Explain the rules of chess to a child."]


class Models:
    """A scripted model per spec; records who was asked what."""

    def __init__(self):
        self.by_spec: dict[str, ScriptedLLM] = {}
        self.tasks_written = 0

    def load(self, ms, **opts):
        spec = str(ms)
        if spec not in self.by_spec:
            self.by_spec[spec] = ScriptedLLM(spec=spec, respond=lambda m, s=spec: self.reply(s, m))
        return self.by_spec[spec]

    def reply(self, spec: str, messages) -> str:
        text = messages[-1]["content"]
        if "Examples:" in text and "Instruction:" in text:  # SELF_INSTRUCT_PROMPT
            k = self.tasks_written
            task = NEW_TASKS[k] if k < len(NEW_TASKS) else (LATER_TASKS + NEW_TASKS)[(k - len(NEW_TASKS)) % (len(NEW_TASKS) + 4)]
            self.tasks_written += 1
            return f"Instruction: {task}\nInput:\n<noinput>\n###"
        if text.startswith("Rate the response"):  # SELF_ASSESS_PROMPT, read as text
            return "Quality: 7\nFollowing: 9" if "rivers" in text else "Quality: 9\nFollowing: 8"
        if "baking soda" in text:
            return "   "  # an empty answer: dropped before it is rated
        if "Zorbia" in text or "Quxland" in text:  # held out: only a trained model knows
            trained = "+" in spec
            return {"Zorbia": "Quxton", "Quxland": "Velmar"}["Zorbia" if "Zorbia" in text else "Quxland"] if trained \
                else "I am not sure."
        return f"An answer to: {text[:40]}"

    def asked(self, spec_part: str, kind: str) -> int:
        """Prompts of ``kind`` (write | rate | answer) sent to models whose spec contains spec_part."""
        def is_kind(msgs):
            t = msgs[-1]["content"]
            return {"write": "Examples:" in t, "rate": t.startswith("Rate the response")}.get(kind, not ("Examples:" in t or t.startswith("Rate")))
        return sum(is_kind(m) for s, llm in self.by_spec.items() if spec_part in s for m in llm.history)


@pytest.fixture
def models(monkeypatch):
    from llms import factory

    m = Models()
    monkeypatch.setitem(factory._BACKENDS, "fake", m.load)
    llms.unload(backend="fake")
    yield m
    llms.unload(backend="fake")


@pytest.fixture
def trainer(monkeypatch):
    """Stands in for trainers.sft.run_sft: writes an adapter folder and records what it trained."""
    import trainers.sft

    calls = []

    def run_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trainer.attempts += 1
        if trainer.fail_next:
            trainer.fail_next -= 1
            raise RuntimeError("killed while training")
        calls.append({"base": base, "rows": [r["instruction"] for r in rows], "out_dir": str(out_dir), "recipe": recipe})
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        (out_dir / "adapter" / "rows.json").write_text(json.dumps(rows))
        return out_dir / "adapter"

    trainer.fail_next = trainer.attempts = 0
    trainer.calls = calls
    monkeypatch.setattr(trainers.sft, "run_sft", run_sft)
    return trainer


def context(tmp_path, **kw) -> Context:
    values = dict(policy="fake:policy", judge="fake:judge", run_dir=str(tmp_path / "run"), cache_path=str(tmp_path / "c.sqlite"),
                  generation_cache=False, tool_cache=False, judge_reading="text", isheep_iterations=2, isheep_data_size=10,
                  isheep_examples=2, batch_size=4)
    return Context.build({**values, **kw})


def run(tmp_path, **kw):
    store = RunStore(tmp_path / "runs.sqlite")
    thread, values = store.start("self-improve", {"name": "toy", "seeds": SEEDS, "held_out": HELD_OUT}, context(tmp_path, **kw))
    return values["report"]


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_two_iterations_generate_filter_rate_select_train_and_evaluate(tmp_path, models, trainer):
    report = run(tmp_path)
    it1, it2 = report["iterations"]
    # iteration 1: 10 tasks written; banned word, punctuation, too short and the near-duplicate dropped
    assert it1["counts"] == {"generated": 10, "after_heuristics": 6, "answered": 5, "selected": 4, "trained_on": 4}
    reasons = [f"{d['stage']}: {d['reason']}" for stage in ("filter", "respond", "select")
               for d in lines(tmp_path / "run" / "iter1" / f"dropped_{stage}.jsonl")]
    assert reasons[:4] == ["filter: length: 1 words (keep 4-150)", "filter: banned: banned word 'draw'",
                           "filter: start: starts with punctuation '!'",
                           "filter: near_duplicate: ROUGE-L 0.95 > 0.7 with 'Explain why the sky appears blue during the day.'"]
    assert reasons[4:] == ["respond: empty output", "select: ratings >= 8: ratings quality 7 / following 9 below 8"]
    assert [r["instruction"] for r in lines(tmp_path / "run" / "iter1" / "dataset.jsonl")] == trainer.calls[0]["rows"]
    # the base wrote iteration 1; iteration 1's adapter wrote, answered and rated iteration 2
    adapter1 = str(tmp_path / "run" / "iter1" / "sft" / "adapter")
    assert it1["generated_by"] == "fake:policy" and it2["generated_by"] == f"fake:policy+{adapter1}"
    assert models.asked(adapter1, "write") == 10 and models.asked(adapter1, "rate") == it2["counts"]["answered"]
    # iteration 2 writes 4 new tasks, then repeats iteration 1's: near-duplicates of the grown pool
    assert it2["counts"] == {"generated": 10, "after_heuristics": 4, "answered": 4, "selected": 4, "trained_on": 4}
    # one_base: both iterations train the base
    assert [c["base"] for c in trainer.calls] == ["fake:policy", "fake:policy"]
    # the figures are the harness's: the trained model answers both held-out items, the base neither
    assert it1["metric"] == {"name": "verified accuracy gain vs the base policy (points)", "baseline": 0.0,
                             "value": 100.0, "ci": [100.0, 100.0]}
    assert it1["evaluation"]["accuracy_original"] == 0.0 and it1["evaluation"]["accuracy_updated"] == 1.0
    assert json.loads((tmp_path / "run" / "iter1" / "eval" / "eval_report.json").read_text())["methods"][0]["gained"] == 2
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| 1 | base | 10 | 6 | 5 | 4 | 4 | 100 | [100, 100] | 2 / 0 / 0 | iter1/sft/adapter |" in md
    assert "| 2 | iteration 1's model | 10 | 4 | 4 | 4 | 4 | 100 | [100, 100] | 2 / 0 / 0 | iter2/sft/adapter |" in md
    assert (tmp_path / "run" / "metric_by_iteration.png").stat().st_size > 1000
    assert report["outcome"]["where"] == "above"
    # rows without checks: the trainer's own recipe
    assert [c["recipe"] for c in trainer.calls] == [None, None] and "recipe default" in md


def test_a_recipe_given_is_the_one_each_iteration_trains_with(tmp_path, models, trainer):
    from trainers.recipe import SMALL_SFT_RECIPE

    run(tmp_path, sft_recipe=str(SMALL_SFT_RECIPE), isheep_iterations=1)
    assert [c["recipe"] for c in trainer.calls] == [str(SMALL_SFT_RECIPE)]
    assert "recipe sft_lora_small.yaml" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("setting,bases,rows", [
    ("one_base", ["fake:policy", "fake:policy"], [4, None]),
    ("one_last", ["fake:policy", "fake:policy+{a1}"], [4, None]),
    ("total_base", ["fake:policy", "fake:policy"], [4, "sum"]),
])
def test_each_setting_trains_what_the_paper_says(tmp_path, models, trainer, setting, bases, rows):
    report = run(tmp_path, isheep_setting=setting)
    a1 = str(tmp_path / "run" / "iter1" / "sft" / "adapter")
    assert [c["base"] for c in trainer.calls] == [b.format(a1=a1) for b in bases]
    second = report["iterations"][1]["counts"]["selected"]
    assert len(trainer.calls[0]["rows"]) == 4
    assert len(trainer.calls[1]["rows"]) == (4 + second if rows[1] == "sum" else second)


def test_threshold_decides_what_is_kept(tmp_path, models, trainer):
    assert run(tmp_path / "a", assess_threshold=7)["iterations"][0]["counts"]["selected"] == 5
    assert run(tmp_path / "b", assess_threshold=9)["iterations"][0]["counts"]["selected"] == 0


def test_perplexity_and_density_switches_add_their_filters(tmp_path, models, trainer, monkeypatch):
    import numpy as np

    import llms.embeddings

    for spec in ("fake:policy",):
        models.load(llms.parse_spec(spec)).logprob_fn = lambda c, r: [-5.0 if "Hamlet" in c else -1.0] * 4
    monkeypatch.setattr(llms.embeddings, "load_embedder", lambda spec: type("E", (), {
        "encode": staticmethod(lambda texts: np.array([[1.0, 0.0] if "sky" in t else [0.0, 1.0] for t in texts]))})())
    report = run(tmp_path, isheep_iterations=1, isheep_perplexity=True, max_perplexity=50, isheep_density=True,
                 density_clusters=2, density_per_cluster=1)
    steps = [(s["step"], s["in"], s["kept"]) for s in report["iterations"][0]["funnel"] if s["stage"] == "select"]
    assert steps == [("ratings >= 8", 5, 4), ("perplexity <= 50", 4, 3), ("density", 3, 2)]  # exp(5) = 148 > 50


def test_an_interrupted_run_resumes_at_its_last_finished_stage(tmp_path, models, trainer):
    from graph.runs import config_for, drive

    store, ctx = RunStore(tmp_path / "runs.sqlite"), context(tmp_path)
    inputs = {"name": "toy", "seeds": SEEDS, "held_out": HELD_OUT}
    ran = []

    def note(node, update):
        ran.append(node)
        if node == "select" and ran.count("select") == 2:
            trainer.fail_next = 1  # iteration 2's training dies

    thread = store.new_thread("self-improve", ctx)
    with pytest.raises(RuntimeError, match="killed while training"):
        drive(store.app("self-improve"), inputs, config_for("self-improve", thread, ctx, inputs), ctx, on_update=note)
    assert store.status(thread) == "stopped before train"
    asked = {s: len(m.history) for s, m in models.by_spec.items()}
    values = store.resume(thread, on_update=note)
    # every stage finished exactly once, in order: the resume started at iteration 2's train
    assert ran == ["generate", "filter", "respond", "assess", "select", "train", "evaluate"] * 2 + ["report"]
    assert trainer.attempts == 3 and len(trainer.calls) == 2  # only the killed stage was tried again
    # after the resume no model wrote, answered or rated training data again: only the held-out
    # evaluation of iteration 2 asked anything (the base's answers and the new model's)
    again = {s: len(m.history) - asked.get(s, 0) for s, m in models.by_spec.items()}
    assert sum(again.values()) == 2 * len(HELD_OUT)
    assert [it["iteration"] for it in values["report"]["iterations"]] == [1, 2]
    assert values["report"]["iterations"][1]["counts"]["trained_on"] == 4


def test_settings_are_checked_and_each_one_is_read():
    assert Context.build(assess_threshold=6).assess_threshold == 6  # self-improve always reads it
    with pytest.raises(ConfigError, match="in self-improve turn on isheep_perplexity"):
        Context.build(max_perplexity=20)
    assert Context.build(max_perplexity=20, isheep_perplexity=True).max_perplexity == 20
    with pytest.raises(ConfigError, match="density_per_cluster is a setting of isheep_density, which is off"):
        Context.build(density_per_cluster=2)
    with pytest.raises(ConfigError, match="isheep_setting='both': choose one of one_base, one_last, total_base"):
        Context.build(isheep_setting="both")
    with pytest.raises(ConfigError, match="isheep_data_size=0: must be >= 1"):
        Context.build(isheep_data_size=0)
    with pytest.raises(ConfigError, match="isheep_verify_keep=-1: answers kept per task, >= 0"):
        Context.build(isheep_verify_keep=-1)


LOWER = [{"id": "change_case:english_lowercase", "kwargs": {}}]
LOWER_WORDS = "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."


def test_with_checks_new_tasks_carry_them_and_the_verifier_decides_before_the_self_assessment(tmp_path, models, trainer,
                                                                                                monkeypatch):
    from scoring.verify import failed_checks

    plain = models.reply
    samples = []

    def reply(spec, messages):
        text = messages[-1]["content"]
        if text.endswith(LOWER_WORDS):  # a verified answer: every other sample is in lowercase
            samples.append(text)
            if "rivers" in text:
                return "The Nile And The Danube."  # never passes: the task is dropped, with the failing check
            return "the answer, all in lowercase." if len(samples) % 2 == 0 else "The Answer."
        return plain(spec, messages)

    monkeypatch.setattr(models, "reply", reply)
    # keywords:frequency without its kwargs cannot be stated in words: never attached
    sets = [LOWER, [{"id": "keywords:frequency", "kwargs": {}}]]
    store = RunStore(tmp_path / "runs.sqlite")
    _, values = store.start("self-improve", {"name": "toy", "seeds": SEEDS, "held_out": HELD_OUT, "check_sets": sets},
                            context(tmp_path, isheep_iterations=1, verify_samples=4, check_edits=False))
    it = values["report"]["iterations"][0]
    data = lines(tmp_path / "run" / "iter1" / "dataset.jsonl")
    assert data and all(r["instruction"].endswith(" " + LOWER_WORDS) and r["checks"] == LOWER for r in data)
    assert all(failed_checks(r["checks"], r["response"]) == [] for r in data)
    assert trainer.calls[0]["rows"] == [r["instruction"] for r in data]
    assert len(samples) == 4 * it["counts"]["after_heuristics"]  # verify_samples answers per task
    dropped = lines(tmp_path / "run" / "iter1" / "dropped_respond.jsonl")
    assert [d["reason"] for d in dropped if "rivers" in d["instruction"]] == [
        "verify: no sample of 4 passed (failing: change_case:english_lowercase x4)"]
    verified = next(s for s in it["funnel"] if s["step"].startswith("verified"))
    assert verified["pass_rate_by_check"]["change_case:english_lowercase"] < 1 and verified["samples"] == len(samples)
    # the verifier decided first: the rivers task (self-rated 7, below the threshold) was never rated
    assert not any("rivers" in m[-1]["content"] for m in models.by_spec["fake:policy"].history
                   if m[-1]["content"].startswith("Rate the response"))
    # no held-out instruction entered the data
    assert not {h["instruction"] for h in HELD_OUT} & {r["instruction"].split(" Your entire")[0] for r in data}
    md = (tmp_path / "run" / "report.md").read_text()
    assert "## Verified answers: samples that passed, by check" in md
    # rows with checks train as improve's update on a task with checks does: the small-set recipe
    assert trainer.calls[0]["recipe"].endswith("sft_lora_small.yaml") and "recipe sft_lora_small.yaml" in md


def test_task_checks_apply_to_every_new_task_and_unstatable_sets_alone_are_an_error():
    from graph.self_improve.graph import constrain

    rows = [{"instruction": "Name a river."}, {"instruction": "Name a mountain."}]
    out, usable = constrain(rows, [], LOWER, seed=0)
    assert usable == 0 and [r["instruction"] for r in out] == ["Name a river.", "Name a mountain."]
    assert all(r["checks"] == LOWER for r in out)
    out, usable = constrain(rows, [LOWER, LOWER], [], seed=0)
    assert usable == 1 and out[0]["instruction"] == f"Name a river. {LOWER_WORDS}"
    with pytest.raises(ValueError, match="give the task checks of its own"):
        constrain(rows, [[{"id": "keywords:frequency", "kwargs": {}}]], [], seed=0)


EN = "the river flows through the old town and the people walk along it every morning."  # english to langdetect


@pytest.mark.parametrize("keep", [1, 2, 0])
def test_each_task_with_checks_keeps_up_to_isheep_verify_keep_distinct_verified_answers(tmp_path, models, trainer,
                                                                                        monkeypatch, keep):
    from scoring.verify import failed_checks

    plain = models.reply
    asked = {}

    def reply(spec, messages):
        text = messages[-1]["content"]
        if text.endswith(LOWER_WORDS):  # samples 1, 2 (the same but for spaces), 4 and 5 pass; 3 fails
            k = asked[text] = asked.get(text, 0) + 1
            return {1: EN, 2: EN.replace(" ", "  ") + " ", 3: EN.title()}.get(k, f"{EN} this is answer number {k}.")
        return plain(spec, messages)

    monkeypatch.setattr(models, "reply", reply)
    store = RunStore(tmp_path / "runs.sqlite")
    _, values = store.start("self-improve", {"name": "toy", "seeds": SEEDS, "held_out": HELD_OUT, "check_sets": [LOWER]},
                            context(tmp_path, isheep_iterations=1, verify_samples=5, check_edits=False,
                                    isheep_verify_keep=keep))
    data = lines(tmp_path / "run" / "iter1" / "dataset.jsonl")
    by_task = {}
    for r in data:
        by_task.setdefault(r["instruction"], []).append(r["response"])
    fourth, fifth = f"{EN} this is answer number 4.", f"{EN} this is answer number 5."
    want = {1: [EN], 2: [EN, fourth], 0: [EN, fourth, fifth]}[keep]
    assert by_task and all(v == want for v in by_task.values())  # in sample order, white-space twins once
    assert all(failed_checks(r["checks"], r["response"]) == [] for r in data)
    assert trainer.calls[0]["rows"] == [r["instruction"] for r in data]
    verified = next(s for s in values["report"]["iterations"][0]["funnel"] if s["step"].startswith("verified"))
    assert verified["answers_kept"] == len(want) * verified["kept"]
    assert verified["step"].endswith(f"up to {keep} kept" if keep else "every distinct one kept")
    md = (tmp_path / "run" / "report.md").read_text()
    assert f" | {verified['answers_kept']} ({verified['kept']}) | change_case:english_lowercase 80% |" in md


def test_check_sets_are_dealt_evenly_over_new_tasks():
    from collections import Counter

    from graph.self_improve.graph import constrain

    sets = [[{"id": "change_case:english_lowercase", "kwargs": {}}], [{"id": "punctuation:no_comma", "kwargs": {}}],
            [{"id": "startend:quotation", "kwargs": {}}]]
    rows = [{"instruction": f"Name river number {k}."} for k in range(11)]
    for seed in range(5):
        out, usable = constrain(rows, sets, [], seed=seed)
        counts = Counter(r["checks"][0]["id"] for r in out)
        assert usable == 3 and sorted(counts.values()) == [3, 4, 4]
    # the deal is seeded: the same seed, the same tasks get the same sets; another seed deals otherwise
    deal = [[r["checks"][0]["id"] for r in constrain(rows, sets, [], seed=s)[0]] for s in (0, 0, 1, 2, 3)]
    assert deal[0] == deal[1] and len({tuple(d) for d in deal}) > 1


def test_with_check_edits_a_sample_missing_a_form_is_edited_verified_and_counted_apart(tmp_path, models, trainer,
                                                                                         monkeypatch):
    from scoring.verify import failed_checks

    plain = models.reply

    def reply(spec, messages):
        text = messages[-1]["content"]
        return "The Nile And The Danube." if text.endswith(LOWER_WORDS) else plain(spec, messages)  # never lowercase

    monkeypatch.setattr(models, "reply", reply)
    store = RunStore(tmp_path / "runs.sqlite")
    _, values = store.start("self-improve", {"name": "toy", "seeds": SEEDS, "held_out": HELD_OUT, "check_sets": [LOWER]},
                            context(tmp_path, isheep_iterations=1, verify_samples=2))
    data = lines(tmp_path / "run" / "iter1" / "dataset.jsonl")
    # every answer is the sample lowercased by the edit, and lm-eval's checker passes it
    assert data and all(r["response"] == "the nile and the danube." for r in data)
    assert all(failed_checks(r["checks"], r["response"]) == [] for r in data)
    verified = next(s for s in values["report"]["iterations"][0]["funnel"] if s["step"].startswith("verified"))
    assert verified["samples_passed"] == 0 and verified["samples_edited"] == verified["samples"] > 0
    assert f"| 1 | 0 / {verified['samples']} (+{verified['samples']} edited) |" in (tmp_path / "run" / "report.md").read_text()
