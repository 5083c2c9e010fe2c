"""IFD throughput (pairs/s) on real instruction data: per-pair vs naive batches vs length-bucketed
batches vs token-budget batches, measured side by side in one run (rounds interleaved, best of each;
CPU seconds per pair too, which a machine shared with other jobs disturbs less than wall time).

    .venv/bin/python bench/scoring.py [--pairs 32] [--rounds 2] [--batch-size 8]

Every strategy scores the same pairs, and the bench checks they agree (max |diff| of IFD).
Each pair costs two sequences: the chat-rendered instruction + response, and the response alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = ROOT.parent / "shared" / "data" / "alpaca-gpt4-demo" / "alpaca_en_demo.json"


def sequences(llm, rows):
    from records import instruction_of, response_of

    contexts = [llm.render(instruction_of(r)) for r in rows] + ["" for _ in rows]
    conts = [response_of(r) for r in rows] * 2
    return contexts, conts


def ifds(lps, n):
    from scoring.ifd import ifd_from_logprobs

    return [ifd_from_logprobs(lps[i], lps[n + i]) for i in range(n)]


def per_pair(llm, rows, bs):
    out = []
    for r in rows:  # one forward pass per sequence, no padding at all
        c, t = sequences(llm, [r])
        out += [llm.logprobs([c[0]], [t[0]], batch_size=1)[0], llm.logprobs([c[1]], [t[1]], batch_size=1)[0]]
    return ifds(out[0::2] + out[1::2], len(rows))


def naive(llm, rows, bs):
    c, t = sequences(llm, rows)
    lps = []
    for s in range(0, len(c), bs):  # one call per chunk in input order: padded to the chunk's longest
        lps += llm.logprobs(c[s: s + bs], t[s: s + bs], batch_size=bs)
    return ifds(lps, len(rows))


def bucketed(llm, rows, bs):
    c, t = sequences(llm, rows)  # llms/local.py sorts by length, then batches
    return ifds(llm.logprobs(c, t, batch_size=bs), len(rows))


def token_budget(llm, rows, bs, budget=2048):
    from scoring.ifd import batched_logprobs

    c, t = sequences(llm, rows)  # sorted, grouped so rows x widest row <= budget tokens
    return ifds(batched_logprobs(llm, c, t, max_batch_tokens=budget), len(rows))


def one_thread(fn):
    def run(llm, rows, bs):
        import torch

        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(llm, rows, bs)
        finally:
            torch.set_num_threads(n)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    import torch

    import llms

    llm = llms.load(llms.DEFAULT_POLICY)
    rows = json.loads(DATA.read_text())[: args.pairs]
    c, t = sequences(llm, rows)
    lens = [llm.count_tokens(a) + llm.count_tokens(b) for a, b in zip(c, t)]
    print(f"{len(rows)} Alpaca-GPT4 pairs ({len(c)} sequences, tokens mean {sum(lens) / len(lens):.0f}, "
          f"max {max(lens)}); torch threads {torch.get_num_threads()}; batch size {args.batch_size}")
    llm.logprobs(c[:2], t[:2])  # warm up

    from scoring.ifd import ifd_scores

    strategies = {
        "per-pair": per_pair,
        "naive batches": naive,
        "length-bucketed": bucketed,
        "token-budget 2048": token_budget,
        "ifd_scores default": lambda m, r, bs: ifd_scores(m, r),  # token budget 1024
        "per-pair, 1 thread": one_thread(per_pair),
        "bucketed, 1 thread": one_thread(bucketed),
        "default, 1 thread": one_thread(lambda m, r, bs: ifd_scores(m, r)),
    }
    best = {k: float("inf") for k in strategies}
    cpu = {k: float("inf") for k in strategies}
    scores = {}
    for _ in range(args.rounds):  # rounds interleave strategies, so a busy spell hits them all
        for name, fn in strategies.items():
            t0, c0 = time.perf_counter(), time.process_time()
            scores[name] = fn(llm, rows, args.batch_size)
            best[name] = min(best[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    ref = scores["per-pair"]
    base = len(rows) / best["per-pair"]
    print(f"{'strategy':<22} {'pairs/s':>8} {'x per-pair':>10} {'cpu s/pair':>10} {'max |dIFD|':>11}")
    for name in strategies:
        rate = len(rows) / best[name]
        diff = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(scores[name], ref))
        print(f"{name:<22} {rate:8.2f} {rate / base:10.2f} {cpu[name] / len(rows):10.2f} {diff:11.2e}")


if __name__ == "__main__":
    main()
