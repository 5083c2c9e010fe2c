"""LoRA SFT of the policy on curated rows: ``run_sft(cfg, rows, out_dir, base) -> adapter_dir``.

Rows go out in TRL's formats (trainers.formats): instruction-response pairs as conversational
prompt/completion, so the loss falls on the answer only; documents as plain language-modelling
text. A ``datasets.Dataset`` cannot hold both, so each format present is one pass of SFTTrainer
over the same adapter: documents first, then pairs. (``assistant_only_loss`` is not used: it
fails with SmolLM2's chat template, which has no generation markers.)

Each pass checkpoints every ``save_steps`` steps; run again after a kill, it resumes from its last
checkpoint (trainers.checkpoints). Under ``accelerate launch`` each process trains on its shard of
the rows and the main one saves the adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from llms import DEFAULT_POLICY

from .checkpoints import Checkpoints, fingerprint
from .formats import split_formats, to_sft_rows
from .launch import launch, wants_launch
from .lora import RunLog, begin, run_pass, save_adapter, step_timer
from .recipe import load_recipe, share_steps
from .session import release


def run_sft(cfg: dict | None, rows: Iterable[dict], out_dir: str | Path, base: str = DEFAULT_POLICY, *,
            recipe: str | Path | None = None, llm=None) -> Path:
    """Train a LoRA adapter on ``rows`` (curated or TRL rows) and save it in ``out_dir/adapter``,
    with ``out_dir/train_log.json`` (losses per step, seconds per step, the recipe) and, when the
    recipe says ``merge: true``, ``out_dir/merged``. ``llm``: a generation engine to release
    first when it holds accelerator memory (reload with ``trainers.session.reload``). A recipe with
    ``processes`` > 1 trains under ``accelerate launch`` (trainers.launch)."""
    from datasets import Dataset
    from peft import get_peft_model
    from trl import SFTConfig, SFTTrainer

    rows = list(rows)
    passes = split_formats(to_sft_rows(rows))
    if not passes:
        raise ValueError("no rows to train on: pass curated rows (demonstrations, QA pairs, documents) or TRL rows")
    if wants_launch(rc := load_recipe("sft", cfg, recipe)):
        release(llm)
        return launch("sft", rc, cfg, rows, Path(out_dir), base, recipe)
    rc, out_dir, policy = begin("sft", cfg, recipe, out_dir, base, llm)
    checkpoints = Checkpoints(out_dir, fingerprint("sft", base, rc.values, list(passes.items())))
    model = get_peft_model(policy.model, policy.peft_config) if policy.peft_config else policy.model
    log = RunLog("sft", base, rc)
    steps = share_steps(rc.get("max_steps"), {name: len(part) for name, part in passes.items()})
    for name, part in passes.items():
        timer = step_timer()
        trainer = SFTTrainer(
            model=model,
            args=rc.trainer_args(SFTConfig, checkpoints.pass_dir(name), max_steps=steps[name]),
            train_dataset=Dataset.from_list(part),
            processing_class=policy.tokenizer,
            callbacks=[timer],
        )
        run_pass(trainer, timer, name, len(part), log, checkpoints)
        model = trainer.model
    return save_adapter(model, policy, out_dir, log, merge=bool(rc.get("merge")), checkpoints=checkpoints)
