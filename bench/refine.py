"""Refine's inner loop, measured: trajectories per minute, rewards in shared batches against one
run at a time, and the reward cache.

On the first N training tasks of the NQ dev suite (bench/evaluate.py builds it once), runs every
trajectory of one refine iteration (K sampled + the defaults: 3, or with ``--pairs controlled``
only those a pair can be drawn from; each an improve run without measurement), then measures
their updates two ways in the same process, with the generation cache off so neither is served
from it:

* one at a time: each trajectory measured as improve measures it (its own original answers and
  its updated answers, ``graph.heldout.measure``);
* shared: the original answers once per task, every trajectory's updated answers in shared
  batches with each distinct prompt once (``graph.heldout.measure_many``).

Prints ``ratio: N`` (one-at-a-time seconds / shared seconds; target >= 3), the reward cache's
hits when the same rewards are asked for again, and the projected time of a full refine run on
the suite's whole training split from these measurements: every training task x (``--run-samples``
K sampled + the defaults) trajectories x (1 rejection-sampling + ``--run-dpo`` DPO) iterations, each
trajectory gathered and rewarded as measured here. The optimizer's own training (its SFT and DPO
steps) is not in the projection.

    .venv/bin/python bench/refine.py [--suite nq] [--tasks 2] [--samples 2] [--run-samples 5] [--run-dpo 2] [--pairs all]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="prompts per batch of the shared measurement")
    ap.add_argument("--suite", default="nq", choices=["nq", "ifeval", "wizardlm"], help="the dev suite measured")
    ap.add_argument("--run-samples", type=int, default=5, help="K of the projected full run")
    ap.add_argument("--run-dpo", type=int, default=2, help="DPO iterations of the projected full run")
    ap.add_argument("--pairs", choices=["all", "controlled"], default="all",
                    help="refine_pairs: controlled gathers only the defaults a pair can be drawn from")
    args = ap.parse_args()

    from evaluate import suite_dir

    from graph.context import Context
    from graph.heldout import measure, measure_many, original_answers
    from graph.refine.steps import jobs_for, reward_task, run_trajectory
    from graph.tasks.load import load_tasks

    train = load_tasks(suite_dir(args.suite, 0), split="train")
    tasks = train[: args.tasks]
    tmp = Path(tempfile.mkdtemp(prefix="ads-bench-refine-"))
    ctx = Context.build(run_dir=str(tmp), refine_samples=args.samples, refine_pairs=args.pairs, generation_cache=False,
                        cache_path=str(tmp / "tools.sqlite"), memory_path=str(tmp / "memory"))
    by_name = {t["task"]: t for t in tasks}
    t0 = time.perf_counter()
    jobs = jobs_for(ctx, tasks)
    trajectories = [run_trajectory(ctx, job, by_name[job["task"]], 0, ctx.optimizer) for job in jobs]
    gather_s = time.perf_counter() - t0
    items = sum(len(t["held_out"]) for t in tasks)
    defaults = (len(jobs) - args.samples * len(tasks)) / len(tasks)  # a task's default trajectories in this mode
    print(f"{len(tasks)} tasks, {items} held-out items, {len(trajectories)} trajectories "
          f"({args.samples} sampled + {defaults:g} default per task, refine_pairs={args.pairs}), {os.cpu_count()} CPU threads")
    print(f"gathering: {gather_s:.1f} s, {len(trajectories) / gather_s * 60:.1f} trajectories per minute")
    by_node: dict[str, float] = {}
    for t in trajectories:
        for node, seconds in (t.get("timings") or {}).items():
            by_node[node] = by_node.get(node, 0.0) + seconds
    print("gathering by node (s, all trajectories): " +
          ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_node.items(), key=lambda kv: -kv[1])))

    t0 = time.perf_counter()
    one = [measure(ctx, by_name[t["task"]]["held_out"], t["updated"]) for t in trajectories]
    one_s = time.perf_counter() - t0
    shared_ctx = ctx.replace(batch_size=args.batch_size)
    t0 = time.perf_counter()
    shared = []
    for task in tasks:
        mine = [t for t in trajectories if t["task"] == task["task"]]
        original = original_answers(shared_ctx, task["held_out"])
        shared += measure_many(shared_ctx, task["held_out"], [t["updated"] for t in mine], original=original)
    shared_s = time.perf_counter() - t0
    same = sum((a["accuracy"] or {}).get("updated") == (b["accuracy"] or {}).get("updated") for a, b in zip(one, shared))
    print(f"rewards one at a time: {one_s:.1f} s; shared batches (batch {args.batch_size}): {shared_s:.1f} s; "
          f"same accuracy for {same}/{len(one)} trajectories")
    print(f"ratio: {one_s / shared_s:.2f}")

    hits = measured = 0
    for _ in range(2):
        for task in tasks:
            mine = [t for t in trajectories if t["task"] == task["task"]]
            _, stats = reward_task(ctx, task, mine, original_answers(ctx, task["held_out"]))
            hits, measured = hits + stats["cache_hits"], measured + stats["measured"]
    print(f"reward cache over two passes: {measured} measured, {hits} hits (of {2 * len(trajectories)} asked)")

    n = round(len(train) * (args.run_samples + defaults) * (1 + args.run_dpo))
    per_shared, per_one = (gather_s + shared_s) / len(trajectories), (gather_s + one_s) / len(trajectories)
    print(f"projected full run on the {args.suite} training split ({len(train)} tasks x {args.run_samples + defaults:g} "
          f"trajectories x {1 + args.run_dpo} iterations = {n} trajectories, the optimizer's training left out): "
          f"{n * per_shared / 3600:.1f} h with shared rewards ({per_shared:.0f} s a trajectory), "
          f"{n * per_one / 3600:.1f} h one at a time")


if __name__ == "__main__":
    main()
