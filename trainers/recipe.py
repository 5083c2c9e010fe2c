"""Training recipes: one YAML file per method in recipes/, overridden by a cfg dict.

Keys are flat, as in the alignment-handbook recipes: ``lora_*`` build the peft ``LoraConfig``,
``merge`` and ``processes`` (trainers.launch) are ours, every other key must be a field of the trl config class of the method
(``SFTConfig``, ``DPOConfig``), so a typo fails before any model loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from records.errors import AdsError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
DEFAULT_RECIPES = {"sft": "sft_lora.yaml", "dpo": "dpo_lora.yaml"}
# LoRA SFT on tens of verified rows (a task with checks): one row a step, 5 epochs (the file says why)
SMALL_SFT_RECIPE = RECIPES_DIR / "sft_lora_small.yaml"


def sft_recipe_for(given: str | None, *, checks: bool) -> str | None:
    """The LoRA SFT recipe of an update: the one ``given``, else the small-set recipe where the rows
    carry checks (tens of verified rows), else None (the trainer's default)."""
    if given:
        return given
    return str(SMALL_SFT_RECIPE) if checks else None


LORA_KEYS = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
             "lora_target_modules": "target_modules"}
OWN_KEYS = {"merge", "processes"}


class RecipeError(AdsError, ValueError):
    """A recipe file or override that cannot be used; the message says which key and why."""


@dataclass
class Recipe:
    method: str  # "sft" | "dpo"
    source: str  # the YAML file it started from
    values: dict

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        return self.values.get(key, default)

    def lora_kwargs(self) -> dict:
        return {ours: self.values[key] for key, ours in LORA_KEYS.items() if key in self.values}

    def trainer_args(self, config_cls, output_dir: str | Path, **overrides):
        """The trl config of this method: recipe values, then ``overrides``, bf16 only where it runs."""
        values = {k: v for k, v in self.values.items() if k not in LORA_KEYS and k not in OWN_KEYS}
        values.update(overrides)
        if values.get("bf16") is None:
            values["bf16"] = bf16_available()
        if "use_cpu" not in values:  # so `accelerate launch` on a machine without CUDA trains on gloo
            values["use_cpu"] = not cuda_available()
        return config_cls(output_dir=str(output_dir), **values)


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def bf16_available() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _config_class(method: str):
    if method == "sft":
        from trl import SFTConfig

        return SFTConfig
    from trl import DPOConfig

    return DPOConfig


def load_recipe(method: str, cfg: dict | None = None, path: str | Path | None = None) -> Recipe:
    """The recipe of ``method`` (its default file, or ``path``) with ``cfg`` on top, checked."""
    import yaml

    if method not in DEFAULT_RECIPES:
        raise RecipeError(f"unknown training method {method!r}: use {' or '.join(DEFAULT_RECIPES)}")
    path = Path(path) if path else RECIPES_DIR / DEFAULT_RECIPES[method]
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found: pass a YAML file, or omit it for {RECIPES_DIR / DEFAULT_RECIPES[method]}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe {path} is not valid YAML: {e}") from None
    if not isinstance(values, dict):
        raise RecipeError(f"recipe {path} must be a mapping of keys to values")
    values.update(cfg or {})
    allowed = {f.name for f in dataclasses.fields(_config_class(method)) if f.init}
    unknown = sorted(k for k in values if k not in allowed and k not in LORA_KEYS and k not in OWN_KEYS)
    if unknown:
        raise RecipeError(
            f"unknown {method} recipe key(s) {', '.join(unknown)} (from {path} or cfg): use fields of trl's "
            f"{_config_class(method).__name__}, {', '.join(LORA_KEYS)} or {', '.join(OWN_KEYS)}"
        )
    processes = values.get("processes", 1)
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise RecipeError(f"processes={processes!r} (from {path} or cfg): give the number of training processes, 1 or more")
    if "output_dir" in values:
        raise RecipeError("'output_dir' is set by the trainer (out_dir); remove it from the recipe")
    return Recipe(method=method, source=str(path), values=values)


def share_steps(max_steps: int | None, sizes: dict[str, int]) -> dict[str, int]:
    """Split ``max_steps`` across training passes in proportion to their rows (at least 1 each);
    ``-1``/None keeps every pass epoch-based."""
    if not max_steps or max_steps < 0:
        return {name: -1 for name in sizes}
    total = sum(sizes.values())
    shares = {name: max(1, round(max_steps * n / total)) for name, n in sizes.items()}
    largest = max(shares, key=shares.get)  # rounding must not change the total asked for
    shares[largest] = max(1, shares[largest] + max_steps - sum(shares.values()))
    return shares
