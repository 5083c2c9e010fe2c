"""Wall time per stage of the improve graph on the default task, run twice on one fresh tool cache.

The first run is cold (empty tool cache), the second identical run is served from the cache,
so the data-collection (tools) stage ratio shows what the cache saves. Models and the corpus
should be prepared first (python cli.py models prepare; python cli.py corpus build).

    .venv/bin/python bench/improve.py [--task tasks/planets.yaml] [--update icl] [--max-calls 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def run_once(store, task: dict, ctx) -> tuple[dict, float]:
    t0 = time.perf_counter()
    _, values = store.start("improve", task, ctx)
    return values["report"], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=None)
    ap.add_argument("--update", default="icl", choices=["icl", "sft"])
    ap.add_argument("--max-calls", type=int, default=6)
    args = ap.parse_args()

    import llms
    from graph.context import Context
    from graph.runs import RunStore
    from graph.tasks import load_task
    from tools.corpus import ensure_corpus

    task = load_task(args.task)
    ensure_corpus(Context().corpus, log=lambda m: print(m, file=sys.stderr))
    t0 = time.perf_counter()
    llms.load(Context().policy)  # loading is not a stage of the graph: measured apart
    load_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="ads-bench-"))
    runs, store = [], RunStore(tmp / "checkpoints.sqlite")
    for i in (1, 2):
        ctx = Context.build(update=args.update, max_calls=args.max_calls, run_dir=str(tmp / f"run{i}"),
                            cache_path=str(tmp / "tool_cache.sqlite"), memory_path=str(tmp / "memory"))
        runs.append(run_once(store, task, ctx))
    (r1, w1), (r2, w2) = runs
    print(f"task {r1['task']}: {len(task['observed'])} observed, {len(task['held_out'])} held-out, update {args.update}, "
          f"cpu threads {os.cpu_count()}; model load {load_s:.1f}s (once, not in the runs)")
    print(f"calls run 1: {[(c['name'], c['argument']) for c in r1['api_calls']]}")
    print(f"cached calls: run 1 {sum(c['cached'] for c in r1['api_calls'])}/{len(r1['api_calls'])}, "
          f"run 2 {sum(c['cached'] for c in r2['api_calls'])}/{len(r2['api_calls'])}")
    print(f"\n{'stage':<10}{'run 1 (s)':>11}{'run 2 (s)':>11}{'run1/run2':>11}")
    for stage in dict.fromkeys([*r1["timings"], *r2["timings"]]):
        a, b = r1["timings"].get(stage, 0.0), r2["timings"].get(stage, 0.0)
        print(f"{stage:<10}{a:>11.2f}{b:>11.2f}{(a / b if b else float('inf')):>10.1f}x")
    print(f"{'total':<10}{w1:>11.2f}{w2:>11.2f}{w1 / w2:>10.1f}x")
    tools_ratio = r1["timings"].get("tools", 0.0) / max(r2["timings"].get("tools", 0.0), 1e-9)
    print(f"\ndata collection (tools stage) speedup from the tool cache: {tools_ratio:.1f}x")
    for name, r in (("run 1", r1), ("run 2", r2)):
        h, acc = r["held_out"], r.get("accuracy") or {}
        print(f"{name}: held-out win {h['win']} tie {h['tie']} lose {h['lose']} no_verdict {h['no_verdict']}; "
              f"accuracy original {acc.get('original', float('nan')):.2f} -> updated {acc.get('updated', float('nan')):.2f}; "
              f"dataset {r['dataset_size']} rows, cost {r['cost_total']:g}")


if __name__ == "__main__":
    main()
