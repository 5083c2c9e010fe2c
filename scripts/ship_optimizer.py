"""Package a refined optimizer's LoRA adapter for shipping: its weights in fp16 (half the size; peft
casts them back to the model's dtype when it loads them) and its config, into the folder the
default optimizer reads (``llms.registry.REFINED_OPTIMIZER_ADAPTER``) or another one. The model
card (README.md in that folder) is written by hand: data, command, figures, limits.

    .venv/bin/python scripts/ship_optimizer.py runs/refine-.../iter2/optimizer/adapter [--out FOLDER]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASE_HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the adapter was trained on (converted from the packaged GGUF)


def ship(src: Path, out: Path) -> dict:
    import torch
    from safetensors.torch import load_file, save_file

    weights, config = src / "adapter_model.safetensors", src / "adapter_config.json"
    if not weights.is_file() or not config.is_file():
        raise SystemExit(f"{src}: not a LoRA adapter folder (needs adapter_config.json and adapter_model.safetensors, "
                         "as refine writes them under RUN/iterN/optimizer/adapter)")
    cfg = json.loads(config.read_text())
    if cfg.get("peft_type") != "LORA":
        raise SystemExit(f"{config}: peft_type {cfg.get('peft_type')!r}, expected LORA")
    state = load_file(str(weights))
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, str(out / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    # the trained-on path is this machine's converted folder: name the model instead (the loader
    # puts the adapter on the model object it is given, never on this path)
    cfg["base_model_name_or_path"] = BASE_HUB_NAME
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return {"tensors": len(state), "bytes": (out / "adapter_model.safetensors").stat().st_size,
            "bytes_before": weights.stat().st_size}


def main() -> None:
    from llms.registry import REFINED_OPTIMIZER_ADAPTER

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("adapter", type=Path, help="the adapter folder refine wrote (RUN/iterN/optimizer/adapter)")
    ap.add_argument("--out", type=Path, default=REFINED_OPTIMIZER_ADAPTER, help="where to write it (default: the shipped folder)")
    args = ap.parse_args()
    print(json.dumps(ship(args.adapter, args.out)))


if __name__ == "__main__":
    main()
