"""LoRA DPO: ``run_dpo(cfg, rows, out_dir, base) -> adapter_dir`` on prompt/chosen/rejected rows.

Defaults from the ADS paper (beta 0.01) with the learning rate scaled for LoRA on small models
(recipes/dpo_lora.yaml). The reference is the policy before this update: with a fresh adapter,
the base with the adapter disabled; when continuing an adapter, trl's frozen copy of it.
Checkpoints every ``save_steps`` steps, resumed after a kill, as in SFT (trainers.checkpoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from llms import DEFAULT_POLICY

from .checkpoints import Checkpoints, fingerprint
from .formats import to_dpo_rows
from .launch import launch, wants_launch
from .lora import RunLog, begin, run_pass, save_adapter, step_timer
from .recipe import load_recipe
from .session import release


def run_dpo(cfg: dict | None, rows: Iterable[dict], out_dir: str | Path, base: str = DEFAULT_POLICY, *,
            recipe: str | Path | None = None, llm=None) -> Path:
    """Train a LoRA adapter with DPO and save it in ``out_dir/adapter`` with ``train_log.json``
    (losses, reward margins and accuracies per step); ``merge: true`` adds ``out_dir/merged``; a
    recipe with ``processes`` > 1 trains under ``accelerate launch`` (trainers.launch)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    pairs = to_dpo_rows(rows)
    if not pairs:
        raise ValueError("no preference rows to train on: pass prompt/chosen/rejected rows")
    if wants_launch(rc := load_recipe("dpo", cfg, recipe)):
        release(llm)
        return launch("dpo", rc, cfg, pairs, Path(out_dir), base, recipe)
    rc, out_dir, policy = begin("dpo", cfg, recipe, out_dir, base, llm)
    checkpoints = Checkpoints(out_dir, fingerprint("dpo", base, rc.values, pairs))
    log = RunLog("dpo", base, rc)  # started now: train_log.json's seconds cover the training
    timer = step_timer()
    trainer = DPOTrainer(
        model=policy.model,
        args=rc.trainer_args(DPOConfig, checkpoints.pass_dir("preference")),
        train_dataset=Dataset.from_list(pairs),
        processing_class=policy.tokenizer,
        peft_config=policy.peft_config,  # None when an adapter is continued: the model is already a PeftModel
        callbacks=[timer],
    )
    run_pass(trainer, timer, "preference", len(pairs), log, checkpoints)
    return save_adapter(trainer.model, policy, out_dir, log, merge=bool(rc.get("merge")), checkpoints=checkpoints)
