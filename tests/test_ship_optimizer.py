"""scripts/ship_optimizer.py: a refine adapter packaged in fp16 with its base model named."""

from __future__ import annotations

import json

import pytest

from llms.registry import REFINED_OPTIMIZER_ADAPTER


def test_shipping_an_adapter_halves_its_weights_and_names_the_base_model(tmp_path):
    import importlib.util

    import torch
    from safetensors.torch import load_file, save_file

    spec = importlib.util.spec_from_file_location("ship_optimizer", REFINED_OPTIMIZER_ADAPTER.parents[2] / "scripts" / "ship_optimizer.py")
    ship_optimizer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_optimizer)
    src = tmp_path / "iter2" / "optimizer" / "adapter"
    src.mkdir(parents=True)
    weights = {"a.lora_A.weight": torch.randn(8, 64), "a.lora_B.weight": torch.randn(64, 8)}
    save_file(weights, str(src / "adapter_model.safetensors"))
    (src / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "/root/.cache/x", "r": 8}))
    out = tmp_path / "shipped"
    got = ship_optimizer.ship(src, out)
    shipped = load_file(str(out / "adapter_model.safetensors"))
    assert got["tensors"] == 2 and got["bytes"] < got["bytes_before"]
    assert all(shipped[k].dtype == torch.float16 and torch.allclose(shipped[k].float(), v, atol=1e-2) for k, v in weights.items())
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and config["r"] == 8
    with pytest.raises(SystemExit, match="not a LoRA adapter folder"):
        ship_optimizer.ship(tmp_path, out)
