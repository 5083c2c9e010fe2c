"""LoRA SFT and DPO on the real SmolLM2: our trainers against a plain PyTorch + PEFT loop, on the
same rows, batch size and max length, in one run.

    .venv/bin/python bench/train.py [--rows 16] [--steps 4] [--max-length 256] [--sft-batch 8] [--dpo-batch 4]
                                    [--set KEY=VALUE ...]   # recipe overrides for ours, e.g. --set bf16=false

Rows are Alpaca-GPT4 pairs from ../shared/data (SFT: instruction -> output; DPO: the output chosen
over a shorter, truncated copy of it). The plain loop is what a user would write by hand: the
chat-templated prompt and answer, loss on the answer, the model's own forward with labels
(full-vocabulary logits), AdamW on the adapter, in float32, the whole batch in one pass. Ours runs
the recipe's rows per pass (recipes/*.yaml), accumulated up to the same rows per optimizer step.
Each run is its own child process, so its peak RSS (sampled every 50 ms) is its own; the first
step (warm-up) is left out of the mean. Torch threads: $ADS_THREADS, else automatic (llms.factory).
Prints `ratio vs plain: N` (our SFT seconds per step over the plain loop's; target <= 1.2) and
`peak RSS GB: N` for our SFT (target <= 3).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "alpaca-gpt4-demo" / "alpaca_en_demo.json"
sys.path.insert(0, str(ROOT))


def rows(n: int) -> list[dict]:
    if not DATA.exists():
        sys.exit(f"{DATA} not found: the bench reads the shared data folder beside the repo")
    records = [r for r in json.loads(DATA.read_text(encoding="utf-8")) if len(r["output"]) > 200][:n]
    return [{"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]} for r in records]


def peak_rss_sampler():
    """Sample this process's RSS every 50 ms; returns (stop(), peak_bytes())."""
    import psutil

    proc, peak, done = psutil.Process(), [0], threading.Event()

    def run():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.05)

    threading.Thread(target=run, daemon=True).start()
    return done.set, lambda: peak[0]


def plain_loop(data: list[dict], steps: int, max_length: int, batch: int) -> list[float]:
    """A hand-written LoRA SFT loop (the reference): seconds of each step."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llms import DEFAULT_POLICY, parse_spec
    from llms.registry import resolve_local
    from trainers.formats import to_sft_rows
    from trainers.recipe import load_recipe

    recipe = load_recipe("sft")
    path = resolve_local(parse_spec(DEFAULT_POLICY).name)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **recipe.lora_kwargs()))
    examples = []
    for r in to_sft_rows(data):
        prompt = tok(tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False)["input_ids"]
        full = tok(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=False),
                   add_special_tokens=False)["input_ids"][:max_length]
        examples.append((full, [-100] * len(prompt) + full[len(prompt):]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe["learning_rate"])
    model.train()
    seconds = []
    for step in range(steps):
        part = [examples[(step * batch + i) % len(examples)] for i in range(batch)]
        width = max(len(ids) for ids, _ in part)
        ids = torch.full((batch, width), tok.pad_token_id or 0)
        labels = torch.full((batch, width), -100)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for row, (x, y) in enumerate(part):
            ids[row, : len(x)], labels[row, : len(y)], mask[row, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        t0 = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        seconds.append(time.perf_counter() - t0)
    return seconds


def child(method: str, n: int, steps: int, max_length: int, batch: int, overrides: dict) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llms.threads import set_threads

    set_threads()  # the same count for the plain loop as our trainers pick: $ADS_THREADS, else automatic
    stop, peak = peak_rss_sampler()
    data = rows(n)
    # ours: the recipe's rows per pass, accumulated up to ``batch`` rows per optimizer step
    from trainers.recipe import load_recipe

    micro = overrides.get("per_device_train_batch_size") or load_recipe(method if method != "plain" else "sft")[
        "per_device_train_batch_size"]
    cfg = {"max_steps": steps, "max_length": max_length, "per_device_train_batch_size": micro,
           "gradient_accumulation_steps": max(1, batch // micro), **overrides}
    t0 = time.perf_counter()
    if method == "plain":
        seconds = plain_loop(data, steps, max_length, batch)
    else:
        with tempfile.TemporaryDirectory() as out:
            if method == "sft":
                from trainers.sft import run_sft

                run_sft(cfg, data, out)
            else:
                from trainers.dpo import run_dpo

                pairs = [{"prompt": r["instruction"], "chosen": r["output"], "rejected": r["output"][: len(r["output"]) // 3]}
                         for r in data]
                run_dpo(cfg, pairs, out)
            log = json.loads((Path(out) / "train_log.json").read_text())
        seconds = [s for p in log["passes"] for s in p["step_seconds"]]
    stop()
    timed = seconds[1:] or seconds
    print(json.dumps({"method": method, "batch": batch, "micro": batch if method == "plain" else micro,
                      "steps": len(seconds), "max_length": max_length,
                      "s_per_step": sum(timed) / len(timed), "first_step_s": seconds[0],
                      "total_s": time.perf_counter() - t0, "peak_rss_gb": peak() / 2**30}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--sft-batch", type=int, default=8)
    ap.add_argument("--dpo-batch", type=int, default=4)
    ap.add_argument("--methods", default="plain,sft,dpo", help="Comma-separated subset of plain, sft, dpo.")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="Recipe override for our trainers (YAML value), e.g. --set bf16=false.")
    ap.add_argument("--child", choices=["plain", "sft", "dpo"], help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        batch = a.dpo_batch if a.child == "dpo" else a.sft_batch
        return child(a.child, a.rows, a.steps, a.max_length, batch, json.loads(a.overrides))
    import yaml

    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in a.sets)}
    results, loads = {}, [os.getloadavg()[0]]
    for method in a.methods.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", method, "--rows", str(a.rows), "--steps", str(a.steps),
                              "--max-length", str(a.max_length), "--sft-batch", str(a.sft_batch),
                              "--dpo-batch", str(a.dpo_batch), "--overrides", json.dumps(overrides)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{method} failed:\n{out.stderr[-3000:]}")
        results[method] = json.loads(out.stdout.strip().splitlines()[-1])
        loads.append(os.getloadavg()[0])
    print(f"{'method':6} {'batch':>5} {'per pass':>8} {'steps':>5} {'s/step':>7} {'1st step s':>10} {'peak RSS GB':>11}")
    for r in results.values():
        print(f"{r['method']:6} {r['batch']:5d} {r['micro']:8d} {r['steps']:5d} {r['s_per_step']:7.2f} "
              f"{r['first_step_s']:10.2f} {r['peak_rss_gb']:11.2f}")
    print(f"max_length {a.max_length}, {a.rows} rows, recipe overrides {overrides or 'none'}; torch threads "
          f"{os.environ.get('ADS_THREADS', 'default')}; load average {' / '.join(f'{x:.1f}' for x in loads)}")
    if "sft" in results:
        s = results["sft"]
        if "plain" in results:
            print(f"ratio vs plain: {s['s_per_step'] / results['plain']['s_per_step']:.2f}  (our SFT s/step over the plain loop's)")
        print(f"peak RSS GB: {s['peak_rss_gb']:.2f}  (our SFT; plain loop "
              f"{results['plain']['peak_rss_gb']:.2f})" if "plain" in results else f"peak RSS GB: {s['peak_rss_gb']:.2f}")
    if "dpo" in results:
        d = results["dpo"]
        print(f"DPO peak RSS GB: {d['peak_rss_gb']:.2f}; DPO s/step {d['s_per_step']:.2f} at batch {d['batch']}"
              + (f" (per row over SFT's: {(d['s_per_step'] / d['batch']) / (results['sft']['s_per_step'] / results['sft']['batch']):.2f})"
                 if "sft" in results else ""))


if __name__ == "__main__":
    main()
