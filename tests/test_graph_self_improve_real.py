"""Two real I-SHEEP iterations from the 175 Self-Instruct seed tasks on SmolLM2-135M: the model
writes, answers and rates its own data, two LoRA adapters are trained (one step each: the point is
the loop, not the gain), and the report's figures come from the harness's real evaluation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import self_improve

pytestmark = pytest.mark.real

TINY_RECIPE = """lora_r: 8
lora_alpha: 16
lora_dropout: 0.0
lora_target_modules: all-linear
learning_rate: 2.0e-4
max_steps: 1
per_device_train_batch_size: 4
max_length: 160
logging_steps: 1
save_strategy: "no"
report_to: none
disable_tqdm: true
seed: 0
"""


def test_two_real_iterations_write_two_adapters_and_a_measured_report(tmp_path, smollm, shared_data, monkeypatch):
    monkeypatch.setenv("ADS_THREADS", "1")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    out = tmp_path / "run"
    result = CliRunner().invoke(self_improve, [
        "--seed-data", str(shared_data / "self-instruct" / "seed_tasks.jsonl"), "--iterations", "2", "--data-size", "4",
        "--held-out-n", "2", "--recipe", str(recipe), "--out", str(out), "--db", str(tmp_path / "ck.sqlite"),
        "--set", "isheep_examples=2", "--set", "max_new_tokens=40", "--set", "eval_max_new_tokens=32",
        "--set", "assess_threshold=6"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((out / "report.json").read_text())
    assert [it["iteration"] for it in report["iterations"]] == [1, 2]
    for it in report["iterations"]:
        c = it["counts"]
        assert c["generated"] >= c["after_heuristics"] >= c["answered"] >= c["selected"] == c["trained_on"] > 0
        assert (out / f"iter{it['iteration']}" / "sft" / "adapter" / "adapter_model.safetensors").is_file()
        assert it["ratings"]["unrated"] == 0  # read by log-probs: SmolLM2's ratings always exist
        # the figures are the harness's: its per-iteration eval report holds the same counts
        harness = json.loads((out / f"iter{it['iteration']}" / "eval" / "eval_report.json").read_text())["methods"][0]
        assert (it["evaluation"]["win"], it["evaluation"]["tie"], it["evaluation"]["lose"]) == \
            (harness["win"], harness["tie"], harness["lose"])
        assert harness["n"] == 2 and it["metric"]["name"].startswith("adjusted win rate")
    assert report["iterations"][1]["generated_by"].endswith("iter1/sft/adapter")  # iteration 1's model wrote iteration 2
    assert (out / "metric_by_iteration.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert md.startswith("# Self-improve (I-SHEEP): 2 iteration(s), one_base, seed_tasks")
    assert report["outcome"]["text"] in md


def test_a_real_run_with_checks_trains_on_verified_answers_only(tmp_path, smollm, shared_data, monkeypatch):
    from scoring.verify import failed_checks

    monkeypatch.setenv("ADS_THREADS", "1")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    # a constraint the 135M policy meets in some samples and misses in others
    task = tmp_path / "short.yaml"
    task.write_text("""name: short-answers
observed:
- instruction: Describe the sea. Answer with less than 12 words.
  checks:
  - id: length_constraints:number_words
    kwargs: {relation: less than, num_words: 12}
held_out:
- instruction: Describe a forest. Answer with less than 12 words.
  checks:
  - id: length_constraints:number_words
    kwargs: {relation: less than, num_words: 12}
""")
    out = tmp_path / "run"
    result = CliRunner().invoke(self_improve, [
        "--seed-data", str(shared_data / "self-instruct" / "seed_tasks.jsonl"), "--task", str(task), "--iterations", "1",
        "--data-size", "6", "--threshold", "1", "--recipe", str(recipe), "--out", str(out), "--db", str(tmp_path / "ck.sqlite"),
        "--set", "isheep_examples=2", "--set", "max_new_tokens=40", "--set", "checks_max_new_tokens=24",
        "--set", "verify_samples=3"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((out / "report.json").read_text())
    it = report["iterations"][0]
    data = [json.loads(x) for x in (out / "iter1" / "dataset.jsonl").read_text().splitlines()]
    trained = json.loads((out / "iter1" / "sft" / "adapter" / "adapter_config.json").read_text())
    assert trained and it["counts"]["trained_on"] == len(data) > 0
    words = "Answer with less than 12 words."
    for row in data:  # every trained row states its constraint and its response passes it
        assert row["instruction"].endswith(words) and failed_checks(row["checks"], row["response"]) == []
    verified = next(s for s in it["funnel"] if s["step"].startswith("verified"))
    assert verified["samples"] == 3 * verified["in"] and 0 < verified["samples_passed"] <= verified["samples"]
    assert report["judge"] == ["verifier (answers / IFEval checks)"]
