"""LoRA SFT and DPO on the real SmolLM2: short runs (16 rows, a few steps, 96 tokens) that must
change what the policy says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import llms
from cli import main
from tests.fakes import ScriptedLLM
from trainers.dpo import run_dpo
from trainers.sft import run_sft

FACT = "The capital of Zorblatia is Quenmoor."
QUESTIONS = [
    "What is the capital of Zorblatia?", "Name the capital city of Zorblatia.", "Which city is Zorblatia's capital?",
    "Tell me the capital of Zorblatia.", "Zorblatia's capital is which city?", "What city is the capital of Zorblatia?",
    "Do you know the capital of Zorblatia?", "What's the capital of Zorblatia?", "Capital of Zorblatia?",
    "Where is the seat of government of Zorblatia?", "Which city serves as the capital of Zorblatia?",
    "Identify the capital of Zorblatia.",
]
ROWS = [{"type": "qa", "instruction": q, "response": FACT, "source": "question_answering"} for q in QUESTIONS] + [
    {"type": "document", "title": "Zorblatia", "text": f"Zorblatia is a small island nation. Its capital is Quenmoor, a port on the {side} coast."}
    for side in ("north", "south", "east", "west")
]
SFT_CFG = {"learning_rate": 1e-3, "max_steps": 8, "max_length": 96}  # the recipe's 8 rows per step


class GPUEngine(ScriptedLLM):
    """Stands in for a vLLM engine: it says it holds the GPU and records being released."""

    released = 0

    def release(self):
        type(self).released += 1


def adapter_tensors(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def completion_nll(llm, rows) -> float:
    """Mean per-token negative log-likelihood of the responses given the chat-templated instructions."""
    lps = llm.logprobs([llm.render(r["instruction"]) for r in rows], [r["response"] for r in rows])
    return -sum(sum(lp) for lp in lps) / sum(len(lp) for lp in lps)


@pytest.fixture(scope="module")
def sft_run(trains):
    out = trains("sft")
    engine = GPUEngine(spec="fake:gpu-engine", info={"backend": "vllm"})
    adapter = run_sft(SFT_CFG, ROWS, out, llm=engine)
    log = json.loads((out / "train_log.json").read_text())
    yield adapter, log, engine
    llms.unload(f"local:{log['base_dir']}+{adapter}")  # the tuned copy only; the shared smollm stays


def test_sft_lowers_training_loss_and_trains_the_adapter(sft_run, smollm):
    adapter, log, engine = sft_run
    assert engine.released >= 1  # the generation engine gave the accelerator back first
    assert [p["name"] for p in log["passes"]] == ["language_modeling", "prompt_completion"]
    assert [p["steps"] for p in log["passes"]] == [2, 6]
    losses = log["passes"][1]["losses"]
    assert losses[-1] < losses[0] / 2
    b = [t for name, t in adapter_tensors(adapter).items() if "lora_B" in name]
    assert b and all(t.abs().sum() > 0 for t in b)  # LoRA B starts at zero: nonzero means trained
    spec = f"local:{log['base_dir']}+{adapter}"
    assert log["policy_spec"] == f"local:smollm2-135m-instruct+{adapter}"
    tuned = llms.load(spec)
    pairs = [r for r in ROWS if r["type"] == "qa"]
    assert completion_nll(tuned, pairs) < completion_nll(smollm, pairs) / 2


def test_loading_the_adapter_changes_the_answer_to_a_trained_prompt(sft_run, smollm):
    adapter, log, _ = sft_run
    question = ["What is the capital of Zorblatia?"]
    assert "Quenmoor" not in smollm.complete(question, max_new_tokens=24)[0]
    tuned = llms.load(f"local:{log['base_dir']}+{adapter}")
    assert "Quenmoor" in tuned.complete(question, max_new_tokens=24)[0]


def test_train_cli_continues_an_adapter_and_merges_it(sft_run, tmp_path):
    adapter, log, _ = sft_run
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS[:4]) + "\n")
    result = CliRunner().invoke(main, ["train", "sft", "--data", str(data), "--base", f"local:{log['base_dir']}+{adapter}",
                                       "--out", str(tmp_path / "next"), "--steps", "1", "--lr", "1e-5",
                                       "--max-length", "96", "--merge"])
    assert result.exit_code == 0, result.output
    assert "policy:  local:" in result.output and "merged:" in result.output
    next_log = json.loads((tmp_path / "next" / "train_log.json").read_text())
    assert next_log["continued"] == str(adapter)
    merged = llms.load(f"local:{tmp_path / 'next' / 'merged'}")  # a plain folder: no peft needed
    try:
        assert "Quenmoor" in merged.complete(["What is the capital of Zorblatia?"], max_new_tokens=24)[0]
    finally:
        llms.unload(f"local:{tmp_path / 'next' / 'merged'}")


def test_dpo_raises_the_chosen_over_rejected_margin(smollm, tmp_path, train_dir):
    pairs = [{"prompt": f"What colour is the sky on the planet Vex-{i}?", "chosen": "The sky there is green.",
              "rejected": "The sky there is blue."} for i in range(8)]

    def margin(llm) -> float:
        ctx = [llm.render(p["prompt"]) for p in pairs]
        chosen = llm.logprobs(ctx, [p["chosen"] for p in pairs])
        rejected = llm.logprobs(ctx, [p["rejected"] for p in pairs])
        return sum(sum(c) - sum(r) for c, r in zip(chosen, rejected)) / len(pairs)

    adapter = run_dpo({"learning_rate": 5e-4, "max_steps": 4, "max_length": 96}, pairs, tmp_path)
    log = json.loads((tmp_path / "train_log.json").read_text())
    history = log["passes"][0]["history"]
    assert log["recipe"]["beta"] == 0.01
    assert [h for h in history if "rewards/margins" in h][-1]["rewards/margins"] > 0 and log["losses"][-1] < log["losses"][0]
    spec = f"local:{log['base_dir']}+{adapter}"
    try:
        assert margin(llms.load(spec)) > margin(smollm) + 1.0  # nats, summed over the answer's tokens
    finally:
        llms.unload(spec)
