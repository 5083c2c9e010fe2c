"""Seconds per optimizer step and peak memory of LoRA SFT and DPO on the real SmolLM2.

    .venv/bin/python bench/train.py [--rows 16] [--steps 4] [--max-length 256]

Rows are Alpaca-GPT4 pairs from ../shared/data (SFT: instruction -> output; DPO: the output
chosen over a shorter, truncated copy of it). Each method runs in its own child process so
that its peak RSS is its own; the first step (warm-up) is left out of the per-step mean.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def child(method: str, n: int, steps: int, max_length: int, batch: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    stop, peak = peak_rss_sampler()
    data = rows(n)
    cfg = {"max_steps": steps, "max_length": max_length, "per_device_train_batch_size": batch}
    t0 = time.perf_counter()
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
    stop()
    seconds = [s for p in log["passes"] for s in p["step_seconds"]]
    timed = seconds[1:] or seconds
    print(json.dumps({
        "method": method, "batch": batch, "steps": len(seconds), "max_length": max_length,
        "s_per_step": sum(timed) / len(timed), "first_step_s": seconds[0], "total_s": time.perf_counter() - t0,
        "peak_rss_gb": peak() / 2**30, "ru_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--sft-batch", type=int, default=8)
    ap.add_argument("--dpo-batch", type=int, default=4)
    ap.add_argument("--child", choices=["sft", "dpo"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.rows, a.steps, a.max_length, a.sft_batch if a.child == "sft" else a.dpo_batch)
    results = {}
    for method in ("sft", "dpo"):
        out = subprocess.run([sys.executable, __file__, "--child", method, "--rows", str(a.rows), "--steps", str(a.steps),
                              "--max-length", str(a.max_length), "--sft-batch", str(a.sft_batch),
                              "--dpo-batch", str(a.dpo_batch)], capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{method} failed:\n{out.stderr[-3000:]}")
        results[method] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'method':6} {'batch':>5} {'steps':>5} {'s/step':>7} {'1st step s':>10} {'peak RSS GB':>11}")
    for r in results.values():
        print(f"{r['method']:6} {r['batch']:5d} {r['steps']:5d} {r['s_per_step']:7.2f} {r['first_step_s']:10.2f} {r['peak_rss_gb']:11.2f}")
    s, d = results["sft"], results["dpo"]
    print(f"DPO/SFT seconds per step: {d['s_per_step'] / s['s_per_step']:.2f}  "
          f"(per row: {(d['s_per_step'] / d['batch']) / (s['s_per_step'] / s['batch']):.2f}); "
          f"DPO/SFT peak memory: {d['peak_rss_gb'] / s['peak_rss_gb']:.2f}")
    print(f"max_length {a.max_length}, {a.rows} rows, {os.cpu_count()} CPU threads available; "
          "other processes on the machine slow every step alike")


if __name__ == "__main__":
    main()
