"""`python cli.py improve` end to end, cold then warm: two identical runs of the CLI (each its own
process: imports, model load, graph, report) on one set of fresh caches.

The first run is cold (empty tool and generation caches); the second is warm: its tool calls
and every model generation (optimizer, tools, judge, held-out answers) come from the caches.
Two cases, each cold then warm on its own caches: the normal run, and one where a tool call
fails on purpose (a task whose answers must be in capital letters: its verified
demonstration_generation calls keep no sample of the policy's): a failed call is reported as failed again on the warm
run, but its seeded samples come from the generation cache. Prints the wall time of each,
`ratio: N` per case (cold / warm, target >= 5), the seconds of every graph stage (report.json
`timings`), and the machine load. Models and the corpus should be prepared first
(python cli.py models prepare; python cli.py corpus build).

    .venv/bin/python bench/improve.py [--task tasks/planets.yaml] [--update icl] [--max-calls 6] [--no-generation-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "improve", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"})
    seconds = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"improve failed:\n{out.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=None)
    ap.add_argument("--update", default="icl", choices=["icl", "sft"])
    ap.add_argument("--max-calls", type=int, default=6)
    ap.add_argument("--cases", default="normal,failing call", help="normal, failing call (comma-separated)")
    ap.add_argument("--no-generation-cache", action="store_true",
                    help="Cache tool calls only (what a warm run saved before the generation cache).")
    a = ap.parse_args()

    ratios = {}
    for case in a.cases.split(","):
        ratios[case] = cold_warm(a, case)
    print("\n" + "  ".join(f"{case}: ratio {r:.1f}" for case, r in ratios.items()))
    print(f"ratio: {min(ratios.values()):.1f}")


# The failing case: the task says every answer must be in capital letters (an IFEval check the
# 135M policy does not pass), so its plan's verified demonstration_generation calls (one per observed
# instruction) keep no sample and fail (check_edits off: an edit would write the capitals in); the
# optimizer's own calls are left out.
FAILING_TASK = {"name": "planets-shouting", "checks": [{"id": "change_case:english_capital"}],
                "observed": ["How big is Jupiter compared to Earth?", "What is the atmosphere of Mars made of?"],
                "held_out": ["Which planet is the largest in the Solar System?", "What type of planet is Jupiter?",
                             "What nickname does Mars have because of its orange-red appearance?"]}
FAILING = {"anticipate": 0, "max_calls": 2, "verify_samples": 4, "check_edits": False}


def cold_warm(a, case: str) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="ads-bench-"))
    extra = []
    if case == "failing call":
        (tmp / "failing.json").write_text(json.dumps(FAILING))
        (tmp / "task.json").write_text(json.dumps(FAILING_TASK))
        extra = ["--config", str(tmp / "failing.json"), "--task", str(tmp / "task.json")]
    common = ["--update", a.update, "--max-calls", str(a.max_calls), "--db", str(tmp / "checkpoints.sqlite"),
              "--set", f"cache_path={tmp / 'tool_cache.sqlite'}", "--set", f"memory_path={tmp / 'memory'}",
              "--set", f"generation_cache={not a.no_generation_cache}", *extra,
              *(["--task", a.task] if a.task and case != "failing call" else [])]
    loads, walls, reports = [os.getloadavg()[0]], [], []
    for name in ("cold", "warm"):
        walls.append(run_cli([*common, "--out", str(tmp / name)]))
        reports.append(json.loads((tmp / name / "report.json").read_text()))
        loads.append(os.getloadavg()[0])
    (r1, r2), (w1, w2) = reports, walls

    print(f"\n== {case}: task {r1['task']}, update {a.update}, generation cache {'off' if a.no_generation_cache else 'on'}; "
          f"ADS_THREADS={os.environ.get('ADS_THREADS', 'unset')}, {os.cpu_count()} CPUs; "
          f"load average before / after cold / after warm: {' / '.join(f'{x:.1f}' for x in loads)}")
    for name, r in (("cold", r1), ("warm", r2)):
        print(f"{name} calls: {[(c['name'], c['argument'], c['status'] + (' cached' if c['cached'] else '')) for c in r['api_calls']]}")
    print(f"\n{'stage':<10}{'cold (s)':>10}{'warm (s)':>10}")
    for stage in dict.fromkeys([*r1["timings"], *r2["timings"]]):
        print(f"{stage:<10}{r1['timings'].get(stage, 0.0):>10.2f}{r2['timings'].get(stage, 0.0):>10.2f}")
    for name, r in (("cold", r1), ("warm", r2)):
        h, acc = r["held_out"], r.get("accuracy") or {}
        print(f"{name}: held-out win {h['win']} tie {h['tie']} lose {h['lose']}; accuracy original "
              f"{acc.get('original', float('nan')):.2f} -> updated {acc.get('updated', float('nan')):.2f}")
    print(f"cold: {w1:.2f} s  (python cli.py improve, end to end)")
    print(f"warm: {w2:.2f} s")
    failed = [c for c in r2["api_calls"] if c["status"] == "error"]
    print(f"failed calls in the warm run (reported again): {[(c['name'], c['error'][:60]) for c in failed]}")
    print(f"{case} ratio: {w1 / w2:.1f}")
    return w1 / w2


if __name__ == "__main__":
    main()
