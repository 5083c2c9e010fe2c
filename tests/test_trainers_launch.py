"""LoRA SFT and DPO under ``accelerate launch`` with 2 CPU processes (gloo), on the real SmolLM2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import llms
from cli import main
from tests.test_trainers_resume import rows
from trainers.recipe import RecipeError, load_recipe


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_two_cpu_processes_train_an_adapter_that_loads(method, tmp_path, train_dir, smollm):
    from safetensors.torch import load_file

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows(method)))
    out = CliRunner().invoke(main, ["train", method, "--data", str(data), "--out", str(train_dir), "--steps", "3",
                                    "--batch-size", "2", "--processes", "2", "--max-length", "64"])
    assert out.exit_code == 0, out.output
    log = json.loads((train_dir / "train_log.json").read_text())
    (run,) = log["passes"]
    assert run["processes"] == 2 and run["steps"] == 3 and len(run["losses"]) == 3
    # rows per step stay 2: each of the 2 processes accumulates 1
    assert log["recipe"]["gradient_accumulation_steps"] == 1 and log["recipe"]["processes"] == 2
    lora_b = [t for name, t in load_file(str(train_dir / "adapter" / "adapter_model.safetensors")).items() if "lora_B" in name]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: trained
    spec = f"local:{log['base_dir']}+{train_dir / 'adapter'}"
    try:
        tuned = llms.load(spec)
        lp = tuned.logprobs([tuned.render(QUESTION)], [ANSWER])[0]
        base = smollm.logprobs([smollm.render(QUESTION)], [ANSWER])[0]
        assert len(lp) == len(base) and lp != base  # the adapter is applied when the policy loads
    finally:
        llms.unload(spec)
    assert not (train_dir / "launch_rows.jsonl").exists() and not (train_dir / "trainer").exists()


QUESTION, ANSWER = "What is the capital of France?", "Paris is the capital of France."


def test_processes_must_divide_the_accumulation(tmp_path):
    from trainers.launch import per_process

    recipe = load_recipe("sft", {"processes": 3})  # the recipe accumulates 8 rows per step
    with pytest.raises(RecipeError, match="processes=3 does not divide gradient_accumulation_steps=8"):
        per_process(recipe, None)
    assert per_process(load_recipe("sft", {"processes": 4}), {"max_steps": 2}) == {"max_steps": 2, "gradient_accumulation_steps": 2}
    with pytest.raises(RecipeError, match="processes=0"):
        load_recipe("dpo", {"processes": 0})
