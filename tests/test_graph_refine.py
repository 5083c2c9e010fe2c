"""The refine graph (Algorithm 1) with scripted models, fake tools and recorded training calls."""

from __future__ import annotations

import itertools
import json

import pytest

import tools
from graph.context import Context
from graph.runs import RunStore
from tests.fakes import FACTS, PLAN, SCRIPTED_PLAN, SCRIPTED_PLAN_ARGS, FakeTools, answer, refine_killed_at

TRAIN = [
    {"task": "zorbia", "observed": ["What is the capital of Zorbia?"], "description": "Capitals of made-up countries.",
     "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]}]},
    {"task": "quxland", "observed": ["Name the capital of Quxland."],
     "held_out": [{"instruction": "Quxland's capital city is called what?", "answers": ["Velmar"]}]},
]
VALIDATION = [{"task": "both", "observed": ["What is the capital of Zorbia?"],
               "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
                            {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}]}]


@pytest.fixture
def setup(tmp_path, fake_llm, monkeypatch):
    # the optimizer's samples alternate: the useful plan, then no calls at all
    replies = itertools.cycle([PLAN, "Nothing is needed.\n<api_calls>none</api_calls>"])
    fake_llm("optimizer").respond = lambda m: next(replies)
    fake_llm("policy").respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    fake = FakeTools()
    monkeypatch.setattr(tools, "call_tool", fake)
    trained = []

    def fake_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.append(("sft", base, rows, cfg))
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return out_dir / "adapter"

    def fake_dpo(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.append(("dpo", base, rows, cfg))
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return out_dir / "adapter"

    import trainers.dpo
    import trainers.sft

    monkeypatch.setattr(trainers.sft, "run_sft", fake_sft)
    monkeypatch.setattr(trainers.dpo, "run_dpo", fake_dpo)
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "refine"),
                        cache_path=str(tmp_path / "c.sqlite"), refine_samples=2, refine_iterations=1, refine_steps=3,
                        tool_cache=False, generation_cache=False, **SCRIPTED_PLAN)
    return ctx, fake, trained


def test_rejection_sampling_then_dpo_from_rewards_and_costs(setup, tmp_path):
    ctx, fake, trained = setup
    _, values = RunStore(tmp_path / "runs.sqlite").start("refine", {"train": TRAIN, "validation": VALIDATION}, ctx)
    rep = values["refine_report"]
    assert [r["method"] for r in rep["iterations"]] == ["rejection sampling", "dpo"]
    assert [r["trajectories"] for r in rep["iterations"]] == [10, 10]  # 2 tasks x (2 sampled + 3 default)
    # iteration 0: the plan that bought both facts wins each task; it is the chosen trajectory trained on
    kind, base, rows, cfg = trained[0]
    assert kind == "sft" and base == "fake:optimizer" and len(rows) == 2 and cfg == {"max_length": 2048, "max_steps": 3}
    assert all("information_retrieval(\"Zorbia\")" in r["completion"][0]["content"] for r in rows)
    assert rows[0]["prompt"][0]["role"] == "system" and "Capitals of made-up countries." in rows[0]["prompt"][-1]["content"]
    # iteration 1: DPO from the first adapter, chosen = the plan, rejected = the costliest of the worst (3 QA calls, cost 3)
    kind, base, rows, _ = trained[1]
    assert kind == "dpo" and base == f"fake:optimizer+{tmp_path / 'refine' / 'iter0' / 'optimizer' / 'adapter'}"
    assert all("question_answering" in r["rejected"] and "Zorbia" in r["chosen"] for r in rows)
    assert rep["optimizers"][-1].endswith("iter1/optimizer/adapter") and len(rep["optimizers"]) == 3
    assert rep["iterations"][0]["pair_kinds"] == {"sample > default:qa": 2}
    # the same data is rewarded once: iteration 1's trajectories bought what iteration 0's did
    assert rep["iterations"][0]["rewards_measured"] == 10 - rep["iterations"][0]["reward_cache_hits"]
    assert rep["iterations"][1]["rewards_measured"] == 0 and rep["iterations"][1]["reward_cache_hits"] == 10
    val = rep["iterations"][0]["validation_refined"]
    assert val["gained"] is not None and "accuracy_gain" in val
    assert (tmp_path / "refine" / "refine_report.md").exists() and (tmp_path / "refine" / "refine.png").exists()


def test_controlled_pairs_are_drawn_from_the_samples_not_the_question_answering_default(setup, tmp_path):
    ctx, fake, trained = setup
    ctx = ctx.variant(refine_pairs="controlled")
    _, values = RunStore(tmp_path / "runs.sqlite").start("refine", {"train": TRAIN, "validation": VALIDATION}, ctx)
    # with all (above) the rejected side is the question-answering default; here the sample that bought nothing
    kinds = {(p["chosen_kind"], p["rejected_kind"]) for it in values["iterations"] for p in it["pairs"]}
    assert kinds == {("sample:0", "sample:1")}
    kind, _, rows, _ = trained[1]
    assert kind == "dpo" and rows and all(r["rejected"].endswith("<api_calls>none</api_calls>") for r in rows)
    rep = values["refine_report"]
    assert [r["pairs_from"] for r in rep["iterations"]] == ["controlled", "controlled"]
    # only the defaults a pair can be drawn from are gathered: with the scripted plan (no plan of its
    # own before the reply) none of them
    assert [r["trajectories"] for r in rep["iterations"]] == [4, 4]  # 2 tasks x 2 sampled
    assert {t["kind"] for ts in values["rewarded"].values() for t in ts} == {"sample:0", "sample:1"}
    assert rep["iterations"][0]["pair_kinds"] == {"sample > sample": 2}
    assert "0 (from controlled): sample > sample x2" in (tmp_path / "refine" / "refine_report.md").read_text()


def test_controlled_pairs_gather_only_the_defaults_a_pair_can_be_drawn_from():
    from graph.refine.steps import jobs_for

    lower = [{"id": "change_case:english_lowercase", "kwargs": {}}]
    checked = {"task": "lower", "observed": ["Describe Zorbia.", "Describe Velmar."], "held_out": [{"instruction": "Describe Quxland.",
                                                                                 "checks": lower}]}
    ctx = Context(refine_samples=2)
    assert [j["kind"] for j in jobs_for(ctx, TRAIN[:1])] == ["sample:0", "sample:1", "default:retrieval", "default:qa",
                                                              "default:demonstrations"]
    ctx = ctx.replace(refine_pairs="controlled")
    # a knowledge task: the retrieval rule's plan is the optimizer's own plan anticipating nothing
    assert [j["kind"] for j in jobs_for(ctx, TRAIN[:1])] == ["sample:0", "sample:1", "default:retrieval"]
    # a task with checks: no default is the optimizer's plan (its plan is verified demonstrations of each instruction)
    assert [j["kind"] for j in jobs_for(ctx, [checked])] == ["sample:0", "sample:1"]


def test_a_killed_refine_resumes_without_rerunning_finished_trajectories(setup, tmp_path, monkeypatch):
    ctx, fake, _ = setup
    ran, values = refine_killed_at(monkeypatch, 4, RunStore(tmp_path / "runs.sqlite"), ctx.replace(refine_iterations=0),
                                   {"train": TRAIN, "validation": []})
    first_three, fourth = ran[:3], ran[3]
    assert ran.count(fourth) == 2 and all(ran.count(r) == 1 for r in first_three)  # only the killed one re-ran
    assert len(ran) == 11 and values["refine_report"]["iterations"][0]["trajectories"] == 10


def test_the_refine_command_reads_train_and_validation_splits(setup, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from cli import refine

    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "runs.sqlite"))
    for split, tasks in (("train", TRAIN), ("validation", VALIDATION)):
        (tmp_path / "tasks" / split).mkdir(parents=True)
        for t in tasks:
            (tmp_path / "tasks" / split / f"{t['task']}.yaml").write_text(
                yaml.safe_dump({"name": t["task"], **{k: t[k] for k in ("observed", "held_out")}}))
    # a second suite: --tasks repeated joins the splits of both
    for split, t in (("train", TRAIN[0]), ("validation", VALIDATION[0])):
        (tmp_path / "other" / split).mkdir(parents=True)
        (tmp_path / "other" / split / "other.yaml").write_text(
            yaml.safe_dump({"name": f"other-{split}", **{k: t[k] for k in ("observed", "held_out")}}))
    result = CliRunner().invoke(refine, ["--tasks", str(tmp_path / "tasks"), "--tasks", str(tmp_path / "other"),
                                         "--samples", "1", "--dpo-iterations", "0",
                                         "--out", str(tmp_path / "r"), "--policy", "fake:policy", "--optimizer",
                                         "fake:optimizer", "--judge", "fake:judge", "--no-cache", *SCRIPTED_PLAN_ARGS,
                                         "--set", f"cache_path={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    optimizers = json.loads(result.stdout[result.stdout.index("{"):])["optimizers"]
    assert len(optimizers) == 2 and optimizers[1].endswith("iter0/optimizer/adapter")
    assert "3 training, 2 validation task(s)" in result.stderr


def test_training_rows_teach_the_chosen_trajectory_s_reply_and_anticipated_questions():
    from graph.refine.steps import training_rows

    ask = {"message": "1. Instruction: What is the capital of Zorbia?", "prefix": "2. Instruction:"}
    q1, q2, q3 = "Which river runs through Quxton?", "How tall is Mount Zorb?", "Who founded Zorbia?"

    def block(q):
        return f"2. Instruction: {q}\n2. Input:\n<noinput>\n###"

    pair = {"prompt": [{"role": "user", "content": "plan"}], "chosen": "good plan", "rejected": "bad plan",
            "anticipation_prompt": ask, "chosen_anticipated": [q1, q3], "rejected_anticipated": [q2, q3]}
    replies, anticipated = training_rows([pair], dpo=False)
    assert replies == [{"prompt": pair["prompt"], "completion": [{"role": "assistant", "content": "good plan"}]}]
    replies_sft = replies
    assert [r["completion"][0]["content"] for r in anticipated] == [block(q1), block(q3)]
    assert all(r["prompt"] == [{"role": "user", "content": ask["message"]}] for r in anticipated)
    replies, anticipated = training_rows([pair], dpo=True)
    assert replies == [{"prompt": pair["prompt"], "chosen": "good plan", "rejected": "bad plan"}]
    # in the order written; the same question on both sides teaches nothing and is left out
    assert [(r["chosen"], r["rejected"]) for r in anticipated] == [(block(q1), block(q2))]
    # a default trajectory (the rule's plan) anticipated nothing: "none" is learned, against each question
    rule = {**pair, "chosen_anticipated": []}
    assert [r["completion"][0]["content"] for r in training_rows([rule], dpo=False)[1]] == [block("none")]
    assert [(r["chosen"], r["rejected"]) for r in training_rows([rule], dpo=True)[1]] == [
        (block("none"), block(q2)), (block("none"), block(q3))]
    # another default plan (question answering on the observed questions) is no choice about
    # anticipating: nothing is learned from its side
    assert training_rows([{**pair, "rejected_anticipated": None}], dpo=True)[1] == []
    assert training_rows([{**pair, "chosen_anticipated": None}], dpo=False)[1] == []
    # a task the optimizer does not anticipate on: the reply alone
    assert training_rows([{**pair, "anticipation_prompt": None}], dpo=True)[1] == []
    # a reply its plan left no room (nothing it said was bought) is not trained; its anticipation is
    idle = {**pair, "chosen_reply_decides": False}
    assert training_rows([idle], dpo=False)[0] == [] and len(training_rows([idle], dpo=False)[1]) == 2
    assert training_rows([idle], dpo=True)[0] == [] and len(training_rows([idle], dpo=True)[1]) == 1
    assert training_rows([{**pair, "rejected_reply_decides": False}], dpo=True)[0] == []
    assert training_rows([{**pair, "rejected_reply_decides": False}], dpo=False)[0] == replies_sft


@pytest.mark.parametrize("max_calls", [6, 2])
def test_refine_trains_the_optimizer_on_the_questions_it_anticipated(tmp_path, fake_llm, monkeypatch, max_calls):
    """On a knowledge task the anticipated questions decide what the plan buys past the observed
    instructions: the trajectory whose question bought the fact is chosen, and what it anticipated
    (prompt: the observed instructions as numbered blocks) is trained beside its reply, where the
    reply had room to buy something (max_calls 6); where the observed and anticipated questions
    fill max_calls (2) the reply bought nothing and is not trained."""
    from tools.base import ToolResult

    useful, useless = "Which city is Zorbia's seat of government?", "How tall is the tallest mountain on Mars?"
    written = itertools.cycle([useful] * 3 + [useless] * 3)  # 3 candidates an anticipation, one kept

    def optimizer(messages):
        text = messages[-1]["content"]
        if "Write one more question" in text:
            return f"2. Instruction: {next(written)}\n2. Input:\n<noinput>\n###"
        return "Nothing else is needed.\n<api_calls>none</api_calls>"

    def call_tool(name, arg, ctx):  # only the useful anticipated question finds Zorbia's capital
        text = FACTS["Zorbia"] if "Zorbia's" in arg else f"Nothing is known about {arg}."
        rows = [{"type": "document", "text": text, "title": arg, "source": name, "provenance": {"tool": name, "arg": arg}}]
        return ToolResult(tool=name, arg=arg, cost=ctx.costs[name], rows=rows, provenance={"tool": name, "arg": arg}, latency_s=0.0)

    fake_llm("optimizer").respond = optimizer
    fake_llm("policy").respond = answer
    fake_llm("judge").respond = lambda m: "Quality: 8\nFollowing: 8"
    monkeypatch.setattr(tools, "call_tool", call_tool)
    trained = []

    def fake_sft(cfg, rows, out_dir, base, recipe=None, llm=None):
        trained.append(rows)
        (out_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return out_dir / "adapter"

    import trainers.sft

    monkeypatch.setattr(trainers.sft, "run_sft", fake_sft)
    ctx = Context.build(policy="fake:policy", optimizer="fake:optimizer", judge="fake:judge", run_dir=str(tmp_path / "refine"),
                        cache_path=str(tmp_path / "c.sqlite"), refine_samples=2, refine_iterations=0, refine_steps=3,
                        tool_cache=False, generation_cache=False, anticipate=1, max_calls=max_calls,
                        curation=["dedupe"], knn_min_overlap=0.0, knn_context_overlap=0.0, knn_answer_support=0.0)
    thread, values = RunStore(tmp_path / "runs.sqlite").start("refine", {"train": TRAIN[:1], "validation": []}, ctx)
    it = values["refine_report"]["iterations"][0]
    room = max_calls > 2
    assert it["pairs"] == 1 and it["reply_rows"] == int(room) and it["anticipation_rows"] == 1
    assert it["replies_without_effect"] == int(not room)
    traj = [t for ts in RunStore(tmp_path / "runs.sqlite").snapshot(thread).values["rewarded"].values() for t in ts]
    by_kind = {t["kind"]: t["anticipated"] for t in traj}
    assert by_kind["sample:0"] == [useful] and by_kind["sample:1"] == [useless]
    # what the optimizer is trained on is the chat its reply answered, the run's shared retrieval price in it
    asked = fake_llm("optimizer").history
    for t in traj:
        if t["kind"].startswith("sample"):
            assert (t["messages"] in asked) is room and "in all, however many calls" in t["messages"][0]["content"]
    # where the plan fills max_calls the optimizer is asked its anticipation only, never for a reply
    assert any("APIs (each call costs" in m[0]["content"] for m in asked) is room
    # the rule's plan anticipates nothing; the other defaults' plans are not the optimizer's choice
    assert by_kind["default:retrieval"] == [] and by_kind["default:qa"] is None and by_kind["default:demonstrations"] is None
    rows = trained[0]
    if room:
        assert rows[0]["completion"][0]["content"].endswith("<api_calls>none</api_calls>")  # the chosen reply
    assert rows[-1]["completion"][0]["content"] == f"2. Instruction: {useful}\n2. Input:\n<noinput>\n###"
    assert "1. Instruction: What is the capital of Zorbia?" in rows[-1]["prompt"][0]["content"]
    text = (tmp_path / "refine" / "refine_report.md").read_text()
    assert f"| {int(room)} / 1 |" in text and ("Replies not trained" in text) is not room


def test_the_report_shows_no_rows_where_an_iteration_trained_nothing():
    from graph.refine.report import markdown

    row = {"iteration": 0, "method": "rejection sampling", "trajectories": 10, "pairs": 0, "reply_rows": None,
           "anticipation_rows": None, "sampled_parse_rate": 1.0, "sampled_mean_reward": 0.0, "sampled_mean_cost": 1.0,
           "rewards_measured": 10, "reward_cache_hits": 0}
    text = markdown({"train_tasks": ["a"], "validation_tasks": [], "iterations": [row, {**row, "iteration": 1, "method": "dpo",
                                                                                        "pairs": 2, "reply_rows": 2,
                                                                                        "anticipation_rows": 3}],
                     "optimizers": ["fake:optimizer"]})
    assert "| 0 | rejection sampling | 10 | 0 | - / - |" in text and "| 1 | dpo | 10 | 2 | 2 / 3 |" in text


def test_a_trajectory_on_a_task_with_checks_is_the_users_run_checks_and_all(setup, tmp_path, fake_llm):
    """Refine passes a task's checks to its trajectories (as the harness does): the optimizer's chat
    states them, and that chat is what a sample's reply is trained on."""
    ctx, _, _ = setup
    lower = [{"id": "change_case:english_lowercase", "kwargs": {}}]
    task = {"task": "lower", "observed": ["Describe Zorbia in one sentence."], "checks": lower,
            "observed_checks": {"Describe Zorbia in one sentence.": lower},
            "held_out": [{"instruction": "Describe Quxland in one sentence.", "checks": lower}]}
    thread, _ = RunStore(tmp_path / "runs.sqlite").start("refine", {"train": [task], "validation": []},
                                                         ctx.replace(refine_iterations=0))
    traj = [t for ts in RunStore(tmp_path / "runs.sqlite").snapshot(thread).values["rewarded"].values() for t in ts]
    samples = [t for t in traj if t["kind"].startswith("sample")]
    assert len(samples) == 2
    asked = fake_llm("optimizer").history
    for t in samples:
        assert "Every answer in this task must pass these checks" in t["messages"][-1]["content"]
        assert "lowercase" in t["messages"][-1]["content"] and t["messages"] in asked
