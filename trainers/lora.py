"""What every LoRA trainer shares: the base model it trains, the run log, the saved adapter.

The base is the plain HF copy of the policy (``llms.registry.resolve_local``): trl refuses
GGUF-quantized weights. A spec that already carries an adapter (``local:BASE+ADAPTER``, the
policy of an earlier iteration) continues training that adapter, so the new adapter alone,
on the same base, is the updated policy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llms import ModelError, parse_spec
from llms.registry import resolve_local

from .checkpoints import Checkpoints, checkpoint_step, is_main_process
from .recipe import load_recipe
from .session import release, with_adapter


@dataclass
class Policy:
    model: Any  # transformers model, or a trainable PeftModel when an adapter is continued
    tokenizer: Any
    base_dir: str  # the plain HF folder the adapter belongs to
    continued: str | None  # the adapter being trained further, if any
    peft_config: Any = None  # a fresh LoraConfig when no adapter is continued


def base_dir_of(base: str) -> tuple[str, str | None]:
    """A policy spec -> (plain HF folder or hub name to train from, adapter to continue)."""
    ms = parse_spec(base)
    if ms.backend not in ("local", "vllm"):
        raise ModelError(f"cannot train '{base}': training needs the model's weights. Use a local:<model> spec "
                         "(the same model the endpoint serves) and serve the new adapter afterwards")
    if ms.name.endswith(".gguf"):
        raise ModelError(f"cannot train '{base}': trl refuses GGUF-quantized weights. Convert it to a plain "
                         "HF folder first (python cli.py models prepare for packaged models)")
    return resolve_local(ms.name), ms.adapter


def begin(method: str, cfg: dict | None, recipe_path, out_dir, base: str, llm) -> tuple[Any, Path, Policy]:
    """Everything before a trainer starts: the checked recipe, the run folder, the engine on the
    accelerator released, the policy loaded."""
    from llms.threads import set_threads

    rc = load_recipe(method, cfg, recipe_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    release(llm)
    set_threads()  # $ADS_THREADS, else the cores other jobs leave free: oversubscribed steps stall
    from transformers import set_seed

    # the new adapter's A matrices are drawn at random before the trainer seeds anything: seeded
    # here, the same recipe and rows give the same adapter (and a resumed run the same losses)
    set_seed(int(rc.get("seed") or 0))
    return rc, out_dir, load_policy(base, rc)


def load_policy(base: str, recipe) -> Policy:
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, adapter = base_dir_of(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except OSError as e:
        raise ModelError(f"cannot load '{path}' to train: {e}. Use a packaged model (python cli.py models list) "
                         "or a local HF folder") from e
    if getattr(model.config, "quantization_config", None):
        raise ModelError(f"'{path}' holds quantized weights, which trl will not train: use its float checkpoint")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter:
        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
        return Policy(model, tokenizer, path, adapter)
    config = LoraConfig(task_type="CAUSAL_LM", **recipe.lora_kwargs())
    return Policy(model, tokenizer, path, None, peft_config=config)


def step_timer():
    """A trl/transformers callback that records each optimizer step's wall time; before each step
    the torch thread count follows the cores other processes leave free (unless pinned)."""
    from transformers import TrainerCallback

    from llms.threads import follow_threads

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []
            self.first_step: int | None = None  # the first step this process ran (> 1 after a resume)
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kw):
            follow_threads()
            if self.first_step is None:
                self.first_step = state.global_step + 1
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.seconds.append(time.perf_counter() - self._t)

    return StepTimer()


@dataclass
class RunLog:
    """Everything a run leaves beside its adapter, written to ``train_log.json``."""

    method: str
    base: str
    recipe: Any
    passes: list = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add_pass(self, name: str, rows: int, trainer, timer, resumed_from: int | None = None) -> None:
        history = trainer.state.log_history  # restored from the checkpoint too: losses of every step
        self.passes.append({
            "name": name, "rows": rows, "steps": trainer.state.global_step,
            "resumed_from": resumed_from, "first_step": timer.first_step, "processes": trainer.args.world_size,
            "losses": [h["loss"] for h in history if "loss" in h],
            "step_seconds": [round(s, 4) for s in timer.seconds],
            "history": history,
        })

    @property
    def losses(self) -> list[float]:
        return [loss for p in self.passes for loss in p["losses"]]

    def save(self, out_dir: Path, policy: Policy, adapter_dir: Path, merged: Path | None) -> dict:
        log = {
            "method": self.method, "base": self.base, "base_dir": policy.base_dir, "continued": policy.continued,
            "adapter_dir": str(adapter_dir), "merged_dir": str(merged) if merged else None,
            "policy_spec": with_adapter(self.base, adapter_dir),
            "recipe": {"source": self.recipe.source, **self.recipe.values},
            "seconds": round(time.time() - self.started, 2), "losses": self.losses, "passes": self.passes,
        }
        (out_dir / "train_log.json").write_text(json.dumps(log, indent=2, default=str), encoding="utf-8")
        return log


def run_pass(trainer, timer, name: str, rows: int, log: RunLog, checkpoints: Checkpoints) -> None:
    """Train one pass from its last checkpoint of this same training (from step 0 when none)."""
    if not checkpoints.claimed:
        trainer.accelerator.wait_for_everyone()  # every rank has decided where it resumes
        checkpoints.claim()
    resume = checkpoints.resume_from(name)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    log.add_pass(name, rows, trainer, timer, resumed_from=checkpoint_step(resume))


def save_adapter(model, policy: Policy, out_dir: Path, log: RunLog, *, merge: bool = False,
                 checkpoints: Checkpoints | None = None) -> Path:
    """Save the trained adapter (and, on request, base+adapter merged) in ``out_dir``; return the
    adapter. Under a distributed launch only the main process writes; the checkpoints go."""
    adapter_dir = out_dir / "adapter"
    if is_main_process():
        # DPO on a continued adapter adds a frozen "ref" copy; only the trained one is the policy.
        model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
        merged = merge_adapter(adapter_dir, out_dir / "merged", base_dir=policy.base_dir) if merge else None
        log.save(out_dir, policy, adapter_dir, merged)
    if checkpoints is not None:
        checkpoints.clear()
    return adapter_dir


def merge_adapter(adapter_dir: str | Path, out: str | Path, *, base_dir: str | None = None) -> Path:
    """Base + adapter merged into one plain HF folder (``llms.load("local:<out>")`` needs no peft)."""
    import torch
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = base_dir or PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out = Path(out)
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(str(out))
    return out
