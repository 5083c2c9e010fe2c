"""`models serve` under load: 16 concurrent clients against 16 requests one after another, on the
same server and model in one run, plus the server with batching off (each request alone, as
before the batcher) under the same 16 concurrent clients.

    .venv/bin/python bench/serve.py [--clients 16] [--tokens 48] [--dtype bfloat16]

Prints seconds for each and `ratio: N` (sequential over concurrent batched wall time; target >= 3).
Greedy, so the batched answers are checked against the sequential ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=None)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--dtype", default=None)
    a = ap.parse_args()

    import torch
    from generation import prompts  # noqa: E402  (the same prompts as bench/generation.py)

    import llms
    from llms.serve import start_server

    llm = llms.load(a.spec or llms.DEFAULT_POLICY, dtype=a.dtype)
    questions = prompts(a.clients)
    results = {}
    for name, max_batch in (("batched", a.clients), ("one at a time", 1)):
        server, url = start_server(llm, model_name="policy", max_batch=max_batch)
        client = llms.load(f"openai:policy@{url}", concurrency=a.clients, timeout=600)
        client.complete(questions[:2], max_new_tokens=4)  # warm-up: first forward pass, connections
        server.batcher.batches.clear()
        if name == "batched":
            t0 = time.perf_counter()
            sequential = [client.complete([q], max_new_tokens=a.tokens)[0] for q in questions]
            results["sequential"] = (time.perf_counter() - t0, list(server.batcher.batches))
            server.batcher.batches.clear()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.clients) as pool:  # one client per thread, all at once
            answers = list(pool.map(lambda q: client.complete([q], max_new_tokens=a.tokens)[0], questions))
        results[f"concurrent, {name}"] = (time.perf_counter() - t0, list(server.batcher.batches))
        if name == "batched":
            same = sum(x == y for x, y in zip(answers, sequential))
        server.shutdown()

    print(f"model {llm.spec} dtype {llm.info.get('dtype')} torch threads {torch.get_num_threads()}; "
          f"{a.clients} chat requests of up to {a.tokens} new tokens (greedy); load average {os.getloadavg()[0]:.1f}")
    for name, (seconds, batches) in results.items():
        print(f"{name:<28} {seconds:7.2f} s   batches run: {batches}")
    print(f"batched answers equal to the sequential ones: {same}/{a.clients}")
    print(f"ratio: {results['sequential'][0] / results['concurrent, batched'][0]:.2f}  "
          f"(sequential / concurrent batched; batching off under the same concurrency: "
          f"{results['sequential'][0] / results['concurrent, one at a time'][0]:.2f})")


if __name__ == "__main__":
    main()
