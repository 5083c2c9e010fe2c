"""Training past one device: the SFT and DPO recipes under ``accelerate launch`` (TRL's way).

A recipe (or ``train sft|dpo --processes N``) with ``processes: N`` > 1 makes ``run_sft`` /
``run_dpo`` start ``accelerate launch --multi_gpu --num_processes N -m trainers ...``: N
processes, one per GPU (NCCL), or on a machine without CUDA N CPU processes (gloo: the recipe's
``use_cpu``). Each trains on its shard of the rows with the gradients all-reduced; the main process
saves the adapter. Rows per optimizer step stay what the recipe says: the gradient accumulation is
divided by N, so the same recipe trains the same adapter on 1 or N processes, up to float sums.
Checkpoints and resuming work the same (trainers.checkpoints).

``python -m trainers METHOD --data ROWS --out DIR --base SPEC [--recipe FILE] [--cfg JSON]``
(trainers/__main__.py) is what each launched process runs; ``accelerate launch ... cli.py train
sft`` works as well.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from .recipe import RecipeError

ROOT = Path(__file__).resolve().parents[1]


def launched() -> bool:
    """Whether this process is one of a distributed launch (torchrun / accelerate set LOCAL_RANK)."""
    return os.environ.get("LOCAL_RANK") is not None


def wants_launch(recipe) -> bool:
    return int(recipe.get("processes") or 1) > 1 and not launched()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def per_process(recipe, cfg: dict | None) -> dict:
    """``cfg`` with the gradient accumulation divided among the processes (rows per step unchanged)."""
    n = int(recipe["processes"])
    accumulation = int(recipe.get("gradient_accumulation_steps") or 1)
    if accumulation % n:
        raise RecipeError(f"processes={n} does not divide gradient_accumulation_steps={accumulation}: rows per step "
                          f"would change. Use a multiple of {n} steps of accumulation (train --batch-size), or processes=1")
    return {**(cfg or {}), "gradient_accumulation_steps": accumulation // n}


def launch(method: str, recipe, cfg: dict | None, rows: list, out_dir: Path, base: str, recipe_path) -> Path:
    """Train under ``accelerate launch`` with ``recipe['processes']`` processes; the adapter folder."""
    n = int(recipe["processes"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "launch_rows.jsonl"
    data.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "trainers", method, "--data", str(data),
           "--out", str(out_dir), "--base", base, "--cfg", json.dumps(per_process(recipe, cfg))]
    if recipe_path:
        cmd += ["--recipe", str(recipe_path)]
    env = dict(os.environ)
    if not env.get("ADS_THREADS"):  # each process its share of the cores, not all of them
        env["ADS_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(cmd, env=env, cwd=str(ROOT))
    data.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RecipeError(f"{method} with {n} processes (accelerate launch) failed with exit code {done.returncode}; "
                          "its output is above. On a machine without CUDA the processes share the CPU cores over gloo")
    return out_dir / "adapter"
