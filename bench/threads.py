"""Torch threads as a user meets them, both cases in one run:

1. Back to back: a model command runs, ends, and the next starts at once (as a user types one
   command after another). The next one's automatic thread count (``llms.threads.auto_threads``:
   the cores other processes use over the last second, ``llms.threads``) is compared with what the
   old rule (cores less the 1-minute load average, which still counts the ended process) would
   pick, and its tok/s with a run pinned to every core on the idle machine.
2. Concurrent: two processes generating at once, each with as many threads as the machine has
   cores (oversubscribed), each with one thread, and each automatic.

    .venv/bin/python bench/threads.py [--procs 2] [--prompts 8] [--tokens 32]

Prints `back-to-back / idle tok/s: N` (target within 10% of 1) and `ratio: N` (oversubscribed
over automatic wall time of the concurrent case).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(threads: str, n: int, tokens: int, start_at: float) -> None:
    from generation import prompts

    import llms

    if threads != "auto":
        os.environ["ADS_THREADS"] = threads
    llm = llms.load(llms.DEFAULT_POLICY)
    import torch

    ps = prompts(n)
    llm.generate(ps[:1], llms.SamplingParams(max_new_tokens=2))  # warm-up, outside the timing
    time.sleep(max(0.0, start_at - time.time()))  # every process starts generating at the same moment
    t0 = time.perf_counter()
    llm.generate(ps, llms.SamplingParams(max_new_tokens=tokens), batch_size=n)
    print(json.dumps({"threads": torch.get_num_threads(), "seconds": time.perf_counter() - t0}))


def child_rate(threads: str, n: int, tokens: int) -> None:
    """One batched generation; prints threads used, tok/s and the load average at the start."""
    load = os.getloadavg()[0]
    from generation import prompts

    import llms

    if threads != "auto":
        os.environ["ADS_THREADS"] = threads
    llm = llms.load(llms.DEFAULT_POLICY)
    import torch

    ps = prompts(n)
    t0 = time.perf_counter()
    out = llm.generate(ps, llms.SamplingParams(max_new_tokens=tokens), batch_size=n)
    seconds = time.perf_counter() - t0
    toks = sum(g[0].completion_tokens for g in out)
    print(json.dumps({"threads": torch.get_num_threads(), "rate": toks / seconds, "load": load}))


def run_one(threads: str, n: int, tokens: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ADS_THREADS"}
    env["HF_HUB_OFFLINE"] = "1"
    out = subprocess.run([sys.executable, __file__, "--rate", threads, "--prompts", str(n), "--tokens", str(tokens)],
                         stdout=subprocess.PIPE, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def back_to_back(n: int, tokens: int) -> float:
    cores = len(os.sched_getaffinity(0))
    idle = run_one(str(cores), n, tokens)  # the reference: every core, pinned
    run_one("auto", n, tokens)  # "another model command" that ends ...
    nxt = run_one("auto", n, tokens)  # ... and the next one, started at once
    old_rule = max(1, min(cores, int(cores - nxt["load"] + 0.5)))
    print(f"back to back: the next command picked {nxt['threads']} thread(s) (1-minute load average "
          f"{nxt['load']:.2f} at its start: the old rule would pick {old_rule}); {nxt['rate']:.1f} tok/s, "
          f"idle with {cores} threads pinned: {idle['rate']:.1f} tok/s")
    ratio = nxt["rate"] / idle["rate"]
    print(f"back-to-back / idle tok/s: {ratio:.2f}")
    return ratio


def run_together(threads: str, procs: int, n: int, tokens: int) -> tuple[float, list[int]]:
    start_at = time.time() + 25  # loading takes a few seconds; all of them wait for this moment
    env = {k: v for k, v in os.environ.items() if k != "ADS_THREADS"}
    env["HF_HUB_OFFLINE"] = "1"
    jobs = [subprocess.Popen([sys.executable, __file__, "--child", threads, "--prompts", str(n), "--tokens", str(tokens),
                              "--start-at", str(start_at)], stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(procs)]
    outs = [json.loads(j.communicate()[0].strip().splitlines()[-1]) for j in jobs]
    return max(o["seconds"] for o in outs), [o["threads"] for o in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--rate", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.prompts, a.tokens, a.start_at)
    if a.rate:
        return child_rate(a.rate, a.prompts, a.tokens)
    back_to_back(a.prompts, 64)
    cores = len(os.sched_getaffinity(0))
    results = {}
    for name, threads in ((f"{cores} threads each", str(cores)), ("1 thread each", "1"), ("automatic", "auto")):
        load = os.getloadavg()[0]
        seconds, used = run_together(threads, a.procs, a.prompts, a.tokens)
        results[name] = seconds
        print(f"{a.procs} processes, {name:<16} threads used {used}: {seconds:6.2f} s  (load average before {load:.1f})")
    print(f"{cores} cores; each process generates {a.tokens} tokens for {a.prompts} prompts in one batch")
    print(f"ratio: {results[f'{cores} threads each'] / results['automatic']:.2f}  "
          f"(oversubscribed / automatic wall time; 1 thread each: {results[f'{cores} threads each'] / results['1 thread each']:.2f})")


if __name__ == "__main__":
    main()
