"""Torch threads when several jobs share the machine: two processes generating at once, each with
as many threads as the machine has cores (oversubscribed), each with one thread, and each with
the thread count the local backend picks by itself (``llms.factory.auto_threads``: the cores the
load average leaves free), measured in one run.

    .venv/bin/python bench/threads.py [--procs 2] [--prompts 8] [--tokens 32]

Prints the wall time of every setting (all processes finished) and `ratio: N` (oversubscribed
over automatic wall time). Other jobs on the machine add to the load alike for every setting.
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
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.prompts, a.tokens, a.start_at)
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
