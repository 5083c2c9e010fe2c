"""Throughput of sequential vs batched generation on the embedded policy.

    .venv/bin/python bench/generation.py [--batch 8] [--tokens 64] [--dtype float32|bfloat16]

Prints tokens/s for both and `ratio: N` (batched over sequential), measured in this one run.
Target: ratio >= 4 at batch 8 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import llms  # noqa: E402
from llms.base import SamplingParams  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "vicuna-bench" / "question.jsonl"
FALLBACK = ["What is the capital of France?", "Explain photosynthesis briefly.", "Write a short poem about rain.",
            "How do I boil an egg?", "Name three planets.", "What is machine learning?",
            "Give me a tip for studying.", "Describe a cat."]


def prompts(n: int) -> list[str]:
    if SHARED.exists():
        rows = [json.loads(line) for line in SHARED.read_text().splitlines() if line.strip()]
        return [r["turns"][0] for r in rows[:n]]
    return (FALLBACK * (n // len(FALLBACK) + 1))[:n]


def run(llm, ps, params, batch_size):
    t0 = time.perf_counter()
    out = llm.generate(ps, params, batch_size=batch_size)
    dt = time.perf_counter() - t0
    toks = sum(g[0].completion_tokens for g in out)
    return toks, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=llms.DEFAULT_POLICY)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    llm = llms.load(a.spec, dtype=a.dtype, threads=a.threads)
    import torch

    ps = prompts(a.batch)
    # min_new_tokens is not used: each prompt stops where the model stops, as in real use.
    params = SamplingParams(max_new_tokens=a.tokens)
    run(llm, ps[:2], SamplingParams(max_new_tokens=8), 2)  # warm-up
    seq_toks, seq_dt = run(llm, ps, params, 1)
    bat_toks, bat_dt = run(llm, ps, params, a.batch)
    seq_rate, bat_rate = seq_toks / seq_dt, bat_toks / bat_dt
    print(f"model: {a.spec}  dtype: {llm.info.get('dtype')}  threads: {torch.get_num_threads()}  "
          f"prompts: {len(ps)}  max_new_tokens: {a.tokens}")
    print(f"sequential: {seq_toks} tokens in {seq_dt:.2f} s = {seq_rate:.1f} tok/s")
    print(f"batched x{a.batch}: {bat_toks} tokens in {bat_dt:.2f} s = {bat_rate:.1f} tok/s")
    print(f"ratio: {bat_rate / seq_rate:.2f}")


if __name__ == "__main__":
    main()
