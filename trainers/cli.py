"""``python cli.py train sft|dpo``: train a LoRA adapter on a JSONL file of rows."""

from __future__ import annotations

import functools
import json

import click

from llms import DEFAULT_POLICY, ModelError


def _common(f):
    """Options both methods take; unset ones leave the recipe's value."""
    options = [
        click.option("--data", "data", required=True, type=click.Path(dir_okay=False),
                     help="JSONL rows: TRL formats, or the dataset.jsonl an improve run writes."),
        click.option("--base", default=DEFAULT_POLICY, envvar="ADS_POLICY", show_default=True,
                     help="Policy spec to train (local:NAME|DIR[+ADAPTER] continues that adapter)."),
        click.option("--out", "out", required=True, type=click.Path(file_okay=False),
                     help="Run folder: adapter/, train_log.json, merged/."),
        click.option("--recipe", type=click.Path(dir_okay=False), default=None,
                     help="YAML recipe (default: recipes/<method>_lora.yaml)."),
        click.option("--epochs", type=float, default=None, help="num_train_epochs."),
        click.option("--steps", type=int, default=None, help="max_steps (overrides --epochs)."),
        click.option("--lr", type=float, default=None, help="learning_rate."),
        click.option("--batch-size", type=int, default=None,
                     help="Rows (pairs for dpo) per optimizer step: accumulated over the recipe's per-device batch."),
        click.option("--max-length", type=int, default=None, help="Tokens per row; longer rows are truncated."),
        click.option("--merge", is_flag=True, default=None, help="Also save base+adapter merged (out/merged)."),
    ]
    return functools.reduce(lambda acc, option: option(acc), reversed(options), f)


def _overrides(epochs, steps, lr, batch_size, max_length, merge, **extra) -> dict:
    named = {"num_train_epochs": epochs, "max_steps": steps, "learning_rate": lr, "rows_per_step": batch_size,
             "max_length": max_length, "merge": merge, **extra}
    return {k: v for k, v in named.items() if v is not None}


def _train(method: str, data: str, base: str, out: str, recipe: str | None, cfg: dict) -> None:
    from .formats import FormatError, read_rows
    from .recipe import RecipeError, load_recipe

    try:
        rows_per_step = cfg.pop("rows_per_step", None)
        if rows_per_step is not None:  # rows per step = per-device batch x accumulation (the recipe sets the first)
            per_device = int(load_recipe(method, None, recipe).get("per_device_train_batch_size") or 1)
            if rows_per_step < 1 or rows_per_step % per_device:
                raise RecipeError(f"--batch-size {rows_per_step}: give a positive multiple of the recipe's "
                                  f"per_device_train_batch_size ({per_device})")
            cfg["gradient_accumulation_steps"] = rows_per_step // per_device
        rows = read_rows(data, method)
        if method == "sft":
            from .sft import run_sft as run
        else:
            from .dpo import run_dpo as run
        adapter = run(cfg, rows, out, base=base, recipe=recipe)
    except (FormatError, RecipeError, ModelError) as e:
        raise click.ClickException(str(e)) from None
    log = json.loads((adapter.parent / "train_log.json").read_text(encoding="utf-8"))
    losses = log["losses"]
    click.echo(f"{method}: {len(rows)} rows, {sum(p['steps'] for p in log['passes'])} steps, "
               f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in {log['seconds']:.0f} s" if losses else f"{method}: no steps logged")
    click.echo(f"adapter: {adapter}")
    if log.get("merged_dir"):
        click.echo(f"merged:  {log['merged_dir']}")
    click.echo(f"policy:  {log['policy_spec']}")


@click.group()
def train():
    """Train the policy: LoRA SFT or DPO with TRL."""


@train.command()
@_common
def sft(data, base, out, recipe, **options):
    """LoRA SFT on instruction-response pairs (loss on the answer) and documents (plain text)."""
    _train("sft", data, base, out, recipe, _overrides(**options))


@train.command()
@_common
@click.option("--beta", type=float, default=None, help="DPO beta (recipe default 0.01, as in the paper).")
def dpo(data, base, out, recipe, beta, **options):
    """LoRA DPO on prompt/chosen/rejected rows."""
    _train("dpo", data, base, out, recipe, _overrides(beta=beta, **options))
