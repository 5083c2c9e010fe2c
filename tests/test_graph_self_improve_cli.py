"""`self-improve` through click with scripted models: a run, its resume after a crash, the inputs
(seed pool and held-out split) and the errors a user gets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import inspect_run, runs, self_improve
from cli import self_improve_inputs as inputs
from records import read_items as held_out_items
from tests.test_graph_self_improve import HELD_OUT, SEEDS, models, trainer  # noqa: F401  (fixtures)

FAKES = ["--policy", "fake:policy", "--judge", "fake:judge", "--iterations", "2", "--data-size", "10",
         "--set", "judge_reading=text", "--set", "isheep_examples=2", "--no-cache"]


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("ADS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADS_CHECKPOINTS", str(tmp_path / "home" / "checkpoints.sqlite"))
    seeds, held = tmp_path / "seeds.jsonl", tmp_path / "held.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    held.write_text("".join(json.dumps(h) + "\n" for h in HELD_OUT))
    return tmp_path, seeds, held


def test_a_run_killed_in_training_resumes_from_the_command_line(files, models, trainer):
    tmp, seeds, held = files
    trainer.fail_next = 1  # iteration 1's training dies
    args = ["--seed-data", str(seeds), "--held-out", str(held), "--out", str(tmp / "run"), "--thread", "si1", *FAKES]
    first = CliRunner().invoke(self_improve, args)
    assert first.exit_code != 0 and "killed while training" in str(first.exception)
    listed = CliRunner().invoke(runs, ["list"])
    assert "si1" in listed.output and "self-improve" in listed.output and "stopped before train" in listed.output
    result = CliRunner().invoke(self_improve, ["--resume", "si1"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [it["counts"]["trained_on"] for it in printed["iterations"]] == [4, 4]
    assert printed["iterations"][0]["metric"]["value"] == 100.0  # the trained model answers both held-out items
    assert "iter 1 train" in result.stderr and "iter 1 generate" not in result.stderr  # no finished stage ran again
    assert "verified accuracy gain vs the base policy (points) 100 [100, 100]" in result.stderr
    shown = CliRunner().invoke(inspect_run, ["si1"])
    assert shown.exit_code == 0 and "graph self-improve" in shown.output and "status: finished" in shown.output


def test_without_a_held_out_file_seed_tasks_are_held_out_of_the_pool(files, shared_data):
    _, seeds, _ = files
    got = inputs(str(shared_data / "self-instruct" / "seed_tasks.jsonl"), None, 10, seed=3)
    assert len(got["seeds"]) == 165 and len(got["held_out"]) == 10
    pool = {s["instruction"] for s in got["seeds"]}
    assert not any(h["instruction"].split("\n\n")[0] in pool for h in got["held_out"])
    assert got == inputs(str(shared_data / "self-instruct" / "seed_tasks.jsonl"), None, 10, seed=3)  # seeded
    assert inputs(str(shared_data / "self-instruct" / "seed_tasks.jsonl"), None, 10, seed=4)["held_out"] != got["held_out"]


def test_held_out_items_from_a_task_file_or_an_instruction_file(shared_data):
    planets = held_out_items("tasks/planets.yaml", 3)
    assert len(planets) == 3 and all(item.get("answers") for item in planets)
    user = held_out_items(str(shared_data / "self-instruct" / "user_oriented_instructions.jsonl"), 2)
    assert user[0]["instruction"].startswith("The sentence you are given might be too wordy")
    assert "If you have any questions about my rate" in user[0]["instruction"]  # the instance input is part of it
    vicuna = held_out_items(str(shared_data / "vicuna-bench" / "question.jsonl"), 1)
    assert vicuna == [{"instruction": "How can I improve my time management skills?"}]


def test_bad_input_says_what_to_do(files):
    tmp, seeds, _ = files
    missing = CliRunner().invoke(self_improve, ["--policy", "fake:policy"])
    assert missing.exit_code != 0 and "give the seed tasks: --seed-data FILE" in missing.output
    bad = tmp / "bad.jsonl"
    bad.write_text('{"instruction": "Say hello."}\n{"instruction": \n')
    result = CliRunner().invoke(self_improve, ["--seed-data", str(bad), *FAKES])
    assert result.exit_code != 0 and "bad.jsonl: line 2: not valid JSON" in result.output
    result = CliRunner().invoke(self_improve, ["--seed-data", str(seeds), "--held-out-n", "5", *FAKES])
    assert result.exit_code != 0 and "5 seed tasks cannot give 5 held-out instructions" in result.output
    result = CliRunner().invoke(self_improve, ["--seed-data", str(seeds), "--set", "density_clusters=3", *FAKES])
    assert result.exit_code != 0 and "density_clusters is a setting of isheep_density, which is off" in result.output


def test_a_task_with_checks_gives_held_out_items_and_check_sets(files):
    tmp, seeds, _ = files
    task = tmp / "lower.yaml"
    task.write_text("""name: lower
checks:
- id: change_case:english_lowercase
observed:
- instruction: Describe a cat in two sentences. Wrap your entire response with double quotation marks.
  checks:
  - id: startend:quotation
- Describe a dog.
held_out:
- instruction: Describe a horse.
- instruction: Describe a cow. End your response with "Moo."
  checks:
  - id: startend:end_checker
    kwargs: {end_phrase: Moo.}
""")
    got = inputs(str(seeds), None, None, 0, str(task))
    lower, quote = {"id": "change_case:english_lowercase", "kwargs": {}}, {"id": "startend:quotation", "kwargs": {}}
    assert [h["instruction"] for h in got["held_out"]] == ["Describe a horse.", 'Describe a cow. End your response with "Moo."']
    assert got["checks"] == [lower] and got["held_out"][0]["checks"] == [lower]
    assert got["check_sets"] == [[quote, lower], [lower]]  # from the observed instructions, never the held-out ones
    assert len(got["seeds"]) == len(SEEDS)
    both = CliRunner().invoke(self_improve, ["--seed-data", str(seeds), "--task", str(task), "--held-out", str(task), *FAKES])
    assert both.exit_code != 0 and "give --task or --held-out, not both" in both.output
