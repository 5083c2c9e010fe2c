"""Rows -> TRL formats, recipes, the GPU release/reload helper and the train CLI's input errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import llms
from cli import main
from trainers import session
from trainers.formats import FormatError, dpo_row, read_rows, sft_row, split_formats, to_sft_rows
from trainers.recipe import RecipeError, load_recipe, share_steps

U = lambda text: [{"role": "user", "content": text}]  # noqa: E731
A = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731


def test_curated_rows_become_conversational_prompt_completion_or_text():
    rows = [
        {"type": "demonstration", "instruction": "Say hi.", "response": "Hi!", "source": "demonstration_generation", "provenance": {}},
        {"type": "qa", "instruction": "2+2?", "response": "4"},
        {"type": "memory", "instruction": "Translate: chat", "input": "French", "response": "cat"},
        {"type": "document", "title": "Nile", "text": "The Nile flows north.", "score": 3.2},
        {"instruction": "Alpaca style", "input": "", "output": "no type field"},
    ]
    out = to_sft_rows(rows)
    assert out[0] == {"prompt": U("Say hi."), "completion": A("Hi!")}
    assert out[1] == {"prompt": U("2+2?"), "completion": A("4")}
    assert out[2]["prompt"] == U("Translate: chat\n\nFrench")
    assert out[3] == {"text": "Nile\n\nThe Nile flows north."}
    assert out[4] == {"prompt": U("Alpaca style"), "completion": A("no type field")}
    parts = split_formats(out)
    assert list(parts) == ["language_modeling", "prompt_completion"]  # documents train first
    assert len(parts["language_modeling"]) == 1 and len(parts["prompt_completion"]) == 4


def test_trl_formats_are_read_as_they_are():
    assert sft_row({"prompt": "q", "completion": "a"}) == {"prompt": U("q"), "completion": A("a")}
    assert sft_row({"prompt": U("q"), "completion": A("a")}) == {"prompt": U("q"), "completion": A("a")}
    assert sft_row({"text": "plain text"}) == {"text": "plain text"}
    chat = [{"role": "system", "content": "Be brief."}, *U("q"), *A("a1"), *U("q2"), *A("a2")]
    assert sft_row({"messages": chat}) == {"prompt": chat[:-1], "completion": chat[-1:]}  # loss on the last answer


def test_why_mixed_formats_are_split_into_passes():
    # A datasets.Dataset takes its schema from the first row: a text row after a prompt/completion
    # row silently loses its text. This is why run_sft trains one pass per format.
    from datasets import Dataset

    mixed = Dataset.from_list([{"prompt": U("q"), "completion": A("a")}, {"text": "a document"}])
    assert "text" not in mixed.column_names


def test_bad_sft_rows_name_the_problem():
    with pytest.raises(FormatError, match="preference row"):
        sft_row({"prompt": "q", "chosen": "a", "rejected": "b"})
    with pytest.raises(FormatError, match="must end with an assistant turn"):
        sft_row({"messages": U("only a question")})
    with pytest.raises(FormatError, match="no 'response'"):
        sft_row({"type": "qa", "instruction": "q"})
    with pytest.raises(FormatError, match="non-empty 'text'"):
        sft_row({"type": "document", "text": ""})
    with pytest.raises(FormatError, match="unknown row type 'video'"):
        sft_row({"type": "video", "instruction": "q", "response": "a"})
    with pytest.raises(FormatError, match="row 1: .*role"):
        to_sft_rows([{"text": "ok"}, {"messages": [{"content": "no role"}, *A("a")]}])


def test_preference_rows():
    assert dpo_row({"prompt": "q", "chosen": "good", "rejected": "bad"}) == {
        "prompt": U("q"), "chosen": A("good"), "rejected": A("bad")}
    assert dpo_row({"instruction": "q", "chosen": "good", "rejected": "bad"})["prompt"] == U("q")
    implicit = dpo_row({"chosen": [*U("q"), *A("good")], "rejected": [*U("q"), *A("bad")]})
    assert implicit == {"prompt": U("q"), "chosen": A("good"), "rejected": A("bad")}
    with pytest.raises(FormatError, match="share all but the last turn"):
        dpo_row({"chosen": [*U("q"), *A("good")], "rejected": [*U("other"), *A("bad")]})
    with pytest.raises(FormatError, match="identical"):
        dpo_row({"prompt": "q", "chosen": "same", "rejected": "same"})
    with pytest.raises(FormatError, match="missing 'chosen'"):
        dpo_row({"prompt": "q", "completion": "a"})


def test_read_rows_names_file_and_line(tmp_path):
    good = tmp_path / "rows.jsonl"
    good.write_text(json.dumps({"type": "qa", "instruction": "q", "response": "a"}) + "\n\n"
                    + json.dumps({"prompt": "q", "completion": "a"}) + "\n")
    assert len(read_rows(good)) == 2  # blank lines are skipped
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "qa", "instruction": "q", "response": "a"}\n["a list"]\n')
    with pytest.raises(FormatError, match=r"bad.jsonl: line 2: a row must be a JSON object"):
        read_rows(bad)
    with pytest.raises(FormatError, match=r"bad.jsonl: line 1: missing 'chosen'"):
        read_rows(bad, "dpo")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(FormatError, match="no rows"):
        read_rows(tmp_path / "empty.jsonl")


@pytest.mark.parametrize("content, message", [
    ('{"type": "qa", "instruction": "q", "response": "a"}\n{"type": "qa", "instruction": "q"\n', "rows.jsonl: line 2: not valid JSON"),
    ('{"type": "qa", "instruction": "q", "response": "a"}\n{"type": "qa", "instruction": "q"}\n', "rows.jsonl: line 2: row has no 'response'"),
])
def test_train_cli_rejects_a_malformed_file_naming_the_line(tmp_path, content, message):
    data = tmp_path / "rows.jsonl"
    data.write_text(content)
    result = CliRunner().invoke(main, ["train", "sft", "--data", str(data), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_train_cli_rejects_a_bad_recipe_key(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rat: 0.1\n")
    result = CliRunner().invoke(main, ["train", "dpo", "--data", str(data), "--out", str(tmp_path / "o"), "--recipe", str(recipe)])
    assert result.exit_code == 1 and "unknown dpo recipe key(s) learning_rat" in result.output


def test_recipes_load_with_overrides_and_paper_defaults():
    from trl import DPOConfig, SFTConfig

    sft = load_recipe("sft", {"learning_rate": 1e-3, "lora_r": 4})
    assert sft["learning_rate"] == 1e-3 and sft.lora_kwargs()["r"] == 4
    args = sft.trainer_args(SFTConfig, "/tmp/unused", max_steps=3)
    assert isinstance(args, SFTConfig) and args.max_steps == 3 and args.max_length == 512
    assert args.bf16 is False  # no bf16 on a CPU unless asked
    dpo = load_recipe("dpo")
    assert dpo["beta"] == 0.01  # the paper's beta
    assert dpo.trainer_args(DPOConfig, "/tmp/unused").beta == 0.01
    with pytest.raises(RecipeError, match="unknown sft recipe key"):
        load_recipe("sft", {"epochs": 2})
    with pytest.raises(RecipeError, match="unknown training method"):
        load_recipe("ppo")


def test_the_small_set_recipe_takes_one_row_a_step_and_more_epochs_than_the_shipped_one():
    from pathlib import Path

    from trl import SFTConfig

    root = Path(__file__).resolve().parents[1] / "recipes"
    base, small = load_recipe("sft"), load_recipe("sft", None, root / "sft_lora_small.yaml")
    args = small.trainer_args(SFTConfig, "/tmp/unused")
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == 1
    assert small["num_train_epochs"] > base["num_train_epochs"] and small["learning_rate"] > base["learning_rate"]
    assert small.lora_kwargs() == base.lora_kwargs() and small["max_length"] == base["max_length"]


def test_max_steps_are_shared_across_passes():
    assert share_steps(8, {"language_modeling": 4, "prompt_completion": 12}) == {"language_modeling": 2, "prompt_completion": 6}
    assert sum(share_steps(7, {"a": 1, "b": 1, "c": 1}).values()) == 7
    assert share_steps(-1, {"a": 3}) == {"a": -1}
    assert share_steps(1, {"a": 1, "b": 100}) == {"a": 1, "b": 1}  # every pass takes at least one step


def test_engine_on_an_accelerator_is_released_before_training_and_reloaded_with_the_adapter(fake_llm, monkeypatch):
    released = []
    gpu = fake_llm("gpu-policy")
    gpu.info = {"backend": "vllm"}
    monkeypatch.setattr(type(gpu), "release", lambda self: released.append(self.spec))
    assert session.release(gpu) is True and set(released) == {"fake:gpu-policy"}
    cpu = fake_llm("cpu-policy")
    cpu.info = {"backend": "local", "device": "cpu"}
    assert session.release(cpu) is False and "fake:cpu-policy" not in released  # the CPU copy is kept
    assert session.release(None) is False

    assert session.with_adapter("vllm:Qwen/Qwen2.5-7B", "/runs/a") == "vllm:Qwen/Qwen2.5-7B+/runs/a"
    assert session.with_adapter("local:smollm2-135m-instruct+/runs/old", "/runs/new") == "local:smollm2-135m-instruct+/runs/new"
    with pytest.raises(llms.ModelError, match="cannot take a LoRA adapter"):
        session.with_adapter("openai:m@http://x/v1", "/runs/a")
    assert session.reload("fake:gpu-policy", "/runs/a") is llms.load("fake:gpu-policy+/runs/a")


def test_training_needs_weights():
    from trainers.lora import base_dir_of

    with pytest.raises(llms.ModelError, match="needs the model's weights"):
        base_dir_of("openai:m@http://127.0.0.1:1/v1")
    with pytest.raises(llms.ModelError, match="refuses GGUF"):
        base_dir_of("local:/models/x.Q4_1.gguf")


def test_train_batch_size_is_rows_per_step(tmp_path, monkeypatch):
    import trainers.sft

    seen = {}

    def fake_run(cfg, rows, out, base, recipe=None):
        seen.update(cfg)
        raise llms.ModelError("stop here")

    monkeypatch.setattr(trainers.sft, "run_sft", fake_run)
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"type": "qa", "instruction": "q", "response": "a"}) + "\n")
    result = CliRunner().invoke(main, ["train", "sft", "--data", str(data), "--out", str(tmp_path / "o"), "--batch-size", "16"])
    assert "stop here" in result.output and seen["gradient_accumulation_steps"] == 16 and "rows_per_step" not in seen
