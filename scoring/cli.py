"""`score` commands: score an existing JSONL dataset and write its rows back with the scores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

DEFAULT_MODEL = "local:smollm2-135m-instruct"


def read_jsonl(path: str, required: tuple[str, ...] = (), any_of: tuple[tuple[str, ...], ...] = ()) -> list[dict]:
    """Rows of a JSONL file; a bad line is a ClickException naming the file and line number."""
    from records import RecordError, numbered_jsonl

    try:
        numbered = numbered_jsonl(path)
    except RecordError as e:
        raise click.ClickException(str(e)) from None
    rows = []
    for n, row in numbered:
        missing = [k for k in required if k not in row]
        missing += ["/".join(keys) for keys in any_of if not any(k in row for k in keys)]
        if missing:
            raise click.ClickException(f"{path}: line {n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    if not rows:
        raise click.ClickException(f"{path} holds no rows; give a JSONL file with one JSON object a line")
    return rows


def write_jsonl(rows: list[dict], out: str | None) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)
    else:
        sys.stdout.write(text)


def _load(spec: str):
    import llms

    try:
        return llms.load(spec)
    except llms.ModelError as e:
        raise click.ClickException(str(e)) from e


PAIR = (("instruction", "question"), ("response", "output"))
data_opt = click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="Input JSONL file.")
out_opt = click.option("--out", default=None, help="Output JSONL file (default: stdout).")
model_opt = click.option("--model", "spec", default=DEFAULT_MODEL, show_default=True, envvar="ADS_POLICY",
                         help="Model spec that scores.")
batch_opt = click.option("--batch-size", default=None, type=int, help="Sequences per forward pass.")


@click.group()
def score():
    """Score a JSONL dataset: ifd, assess, judge, verify."""


@score.command("ifd")
@data_opt
@out_opt
@model_opt
@click.option("--large", default=None, help="Stronger model spec: also write ifd_large and dual_ifd (Star-Agents eq. 5).")
@batch_opt
def ifd_cmd(data, out, spec, large, batch_size):
    """Write IFD and perplexities per row (dual IFD with --large)."""
    from . import ifd

    rows = read_jsonl(data, any_of=PAIR)
    bs = batch_size or ifd.DEFAULT_BATCH_SIZE
    for row, d in zip(rows, ifd.ifd_details(_load(spec), rows, batch_size=bs)):
        row.update(d or {"ifd": None})
    if large:
        big = ifd.ifd_scores(_load(large), rows, batch_size=bs)
        both = [i for i, r in enumerate(rows) if r["ifd"] is not None and big[i] is not None]
        dual = ifd.dual_ifd([rows[i]["ifd"] for i in both], [big[i] for i in both])
        for i, r in enumerate(rows):
            r["ifd_large"] = big[i]
            r["dual_ifd"] = None
        for i, v in zip(both, dual):
            rows[i]["dual_ifd"] = v
    write_jsonl(rows, out)


@score.command("assess")
@data_opt
@out_opt
@model_opt
@click.option("--threshold", default=8, show_default=True, type=int, help="Mark rows kept when both ratings reach it.")
@batch_opt
def assess_cmd(data, out, spec, threshold, batch_size):
    """Write the model's own 1-10 ratings and keep per row."""
    from graph.prompts import SELF_ASSESS_PROMPT

    from . import assess

    rows = read_jsonl(data, any_of=PAIR)
    found = assess.self_assess(_load(spec), rows, prompt=SELF_ASSESS_PROMPT, batch_size=batch_size or 8)
    for row, a in zip(rows, found):
        row.update(a.to_dict())
        row["keep"] = bool(a.parsed and a.quality >= threshold and a.following >= threshold)
    unparsable = sum(not a.parsed for a in found)
    click.echo(f"kept {sum(r['keep'] for r in rows)}/{len(rows)} at threshold {threshold}; unparsable {unparsable}", err=True)
    write_jsonl(rows, out)


@score.command("judge")
@data_opt
@out_opt
@model_opt
@click.option("--reward-model", default=None, envvar="ADS_REWARD_MODEL",
              help="Sequence-classification reward model (name or path): judge by reward instead of --model.")
@click.option("--tie-margin", default=0.0, show_default=True, type=float, help="Reward difference under which it is a tie.")
@click.option("--max-new-tokens", default=512, show_default=True, type=int, help="Longest judge reply.")
@batch_opt
def judge_cmd(data, out, spec, reward_model, tie_margin, max_new_tokens, batch_size):
    """Judge response_a vs response_b in both orders per row."""
    from graph.prompts import JUDGE_PAIRWISE_PROMPT, JUDGE_PAIRWISE_SYSTEM
    from records import instruction_of

    from . import judge
    from .verdict import summarize

    rows = read_jsonl(data, required=("response_a", "response_b"), any_of=(PAIR[0],))
    qs = [instruction_of(r) for r in rows]
    a = [str(r["response_a"]) for r in rows]
    b = [str(r["response_b"]) for r in rows]
    if reward_model:
        from . import reward

        try:
            verdicts = reward.reward_pairwise(reward_model, qs, a, b, tie_margin=tie_margin, batch_size=batch_size or 8)
        except Exception as e:  # noqa: BLE001 - a model that will not load is a user error here
            raise click.ClickException(str(e)) from e
    else:
        verdicts = judge.pairwise(_load(spec), qs, a, b, system=JUDGE_PAIRWISE_SYSTEM, template=JUDGE_PAIRWISE_PROMPT,
                                  batch_size=batch_size or 8, max_new_tokens=max_new_tokens)
    for row, v in zip(rows, verdicts):
        row.update({"verdict": v.winner, "verdict_orders": list(v.orders), "judge_reasoning": v.reasoning})
    click.echo(json.dumps(summarize(verdicts)), err=True)
    write_jsonl(rows, out)


@score.command("verify")
@data_opt
@out_opt
@click.option("--exact", is_flag=True, help="QA answers must match exactly (NQ-open's metric), not be contained.")
def verify_cmd(data, out, exact):
    """Check responses against answers, GSM8K numbers or IFEval checks."""
    from . import verify

    rows = read_jsonl(data, any_of=(PAIR[1],))
    for n, row in enumerate(rows, 1):
        try:
            row["verified"] = verify.verify(row, str(row.get("response", row.get("output"))),
                                            mode="exact" if exact else "contains")
        except (ValueError, KeyError) as e:
            raise click.ClickException(f"{data} row {n}: {e}") from e
    checked = [r["verified"] for r in rows if r["verified"] is not None]
    click.echo(f"verified {sum(checked)}/{len(checked)}; nothing to verify in {len(rows) - len(checked)}", err=True)
    write_jsonl(rows, out)
