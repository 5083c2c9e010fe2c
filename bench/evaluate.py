"""The dev suite: methods x update variants x curation strategies on tasks built from ../shared/data.

Builds (once, under $ADS_HOME/tasks/dev-*) NQ-open knowledge tasks (answers checked by the
verifier; only questions whose answer a retrieved passage states), WizardLM skill tasks (the
pairwise judge) and IFEval tasks with checks (grouped by instruction id; lm-eval's checkers), then runs the evaluation harness on one split and prints one row per method
side by side: verified accuracy original -> updated with the paired gained / lost counts, the
gain's 95% interval, the adjusted win rate, tasks hurt / helped, cost per task; and, on tasks whose
items carry answers, the `ceiling` reference: each held-out question with its own two best corpus
passages in context (it reads the questions: a reference, never a method).

    .venv/bin/python bench/evaluate.py --suite nq --split validation \
        --methods original,retrieval,self-instruct,rule-qa,prompting --updates icl,icl-knn \
        --curation dedupe,judge --curation dedupe,format,relevance
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
SHARED = ROOT.parent / "shared" / "data"
SUITES = {
    "nq": {"source": SHARED / "nq-open" / "NQ-open.dev.jsonl", "label": None},
    "wizardlm": {"source": SHARED / "wizardlm-testset" / "WizardLM_testset.jsonl", "label": "Skill"},
    "ifeval": {"source": SHARED / "ifeval" / "input_data.jsonl", "label": "instruction_id"},
}


PINS = ROOT / "bench" / "suites"


def suite_dir(name: str, seed: int, *, pinned: bool = True) -> Path:
    """Build the suite's tasks once (seeded) and return their folder. Where ``bench/suites/`` holds
    the suite's pin (the row numbers of each task, committed), the tasks are written from it, the
    same on every machine; otherwise, or with ``pinned=False`` (to pin anew), they are built
    (grouping and the corpus check vary with a machine's floating point, so such a suite is this
    machine's)."""
    import json
    import shutil

    from graph.tasks.build import build, build_from_pin, pin_digest, read_pin
    from llms.embeddings import load_embedder
    from llms.registry import ads_home
    from tools.corpus import ensure_corpus

    out = ads_home() / "tasks" / f"dev-{name}-seed{seed}"
    pin_file = PINS / f"{name}-seed{seed}.json"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8")) if (out / "manifest.json").exists() else None
    pin_data = read_pin(pin_file) if pinned and pin_file.exists() else None
    want = pin_digest(pin_data) if pin_data else None
    # a folder of another pin, or of this machine where the pin is wanted, or a pin's where this machine's is
    if manifest is not None and (pin_data or not pinned) and manifest.get("pinned") != want:
        shutil.rmtree(out)
        manifest = None
    if manifest is None and pin_data:
        build_from_pin(pin_data, SUITES[name]["source"], out)
        print(f"suite {name} seed {seed}: written from its pin {pin_file.name}", file=sys.stderr)
    elif manifest is None:
        spec = SUITES[name]
        corpus = ensure_corpus("wiki-offline") if spec["label"] is None else None
        build(spec["source"], out, name=name, label=spec["label"], seed=seed, corpus=corpus,
              embedder=None if spec["label"] else load_embedder(corpus.embedder if corpus else None),
              log=lambda m: print(m, file=sys.stderr))
    return out


def ceiling(ctx, tasks: list[dict], k: int = 2) -> dict | None:
    """The per-question retrieval reference: each held-out question's own ``k`` best corpus passages
    in the policy's context (the ICL prompt), answers verified. It reads the held-out questions, so
    it is a labelled reference for how far a method is from what retrieval can give, never a method."""
    from graph.heldout import answer, items_of, original_answers
    from graph.nodes import load_model
    from scoring.verify import verify
    from tools import retrieval
    from tools.corpus import ensure_corpus
    from trainers.icl import icl_prompt, pack

    items_all = [it for t in tasks for it in items_of(t["held_out"])]
    if not items_all or not all(it.get("answers") for it in items_all):
        return None
    corpus, count = ensure_corpus(ctx.corpus), load_model(ctx, ctx.policy).count_tokens
    before, after = [], []
    for task in tasks:
        items = items_of(task["held_out"])
        prompts = []
        for it in items:
            hits = retrieval.search(corpus, it["instruction"], k=k, candidates=ctx.bm25_candidates)
            rows = [{"type": "document", "title": h.title, "text": h.text} for h in hits]
            packed = pack(rows, count, ctx.icl_token_budget, document=ctx.prompt("ICL_DOCUMENT"),
                          example=ctx.prompt("ICL_EXAMPLE"))
            prompts.append(icl_prompt(packed.text, it["instruction"], ctx.prompt("ICL_KNN_PROMPT")))
        original = original_answers(ctx, task["held_out"])
        new = answer(ctx, ctx.policy, prompts)
        before += [bool(verify(it, a)) for it, a in zip(items, original)]
        after += [bool(verify(it, a)) for it, a in zip(items, new)]
    n = len(before)
    return {"n": n, "original": sum(before) / n, "ceiling": sum(after) / n,
            "gained": sum(a and not b for a, b in zip(after, before)), "lost": sum(b and not a for a, b in zip(after, before))}


def unseen(tasks: list[dict], seen: list[dict]) -> tuple[list[dict], int]:
    """``tasks`` with every held-out item whose question is in a task of ``seen`` (observed or held
    out) dropped, and tasks left with none dropped; (tasks, items dropped). The suites of different
    seeds group the same questions into other tasks: an optimizer refined on one seed's training
    split is measured on another seed's tasks only on the questions its rewards never read."""
    def key(text: str) -> str:
        return " ".join(text.casefold().split())

    known = {key(o) for t in seen for o in t["observed"]} | {key(it["instruction"]) for t in seen for it in t["held_out"]}
    kept, dropped = [], 0
    for t in tasks:
        items = [it for it in t["held_out"] if key(it["instruction"]) not in known]
        dropped += len(t["held_out"]) - len(items)
        if items:
            kept.append({**t, "held_out": items})
    return kept, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=list(SUITES), default="nq")
    ap.add_argument("--split", choices=["train", "validation", "test"], default="validation")
    ap.add_argument("--methods", default="original,retrieval,self-instruct,rule-qa,prompting")
    ap.add_argument("--updates", default=None, help="comma-separated update kinds to compare (default: Context.update)")
    ap.add_argument("--curation", action="append", default=None, help="a curation strategy (comma-separated steps); repeat")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N tasks of the split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any Context setting")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-ceiling", action="store_true", help="skip the per-question retrieval reference")
    ap.add_argument("--unseen-by", type=int, default=None, metavar="SEED",
                    help="keep only held-out questions that no training task of suite seed SEED holds (observed or held "
                         "out): an optimizer refined on that seed's training split (the shipped one: seed 0) is then "
                         "measured on other seeds' tasks on questions its rewards never read")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} not found: the dev suite reads ../shared/data beside the repo")

    from graph.context import Context
    from graph.runs import RunStore
    from graph.tasks.load import load_tasks

    tasks = load_tasks(suite_dir(args.suite, args.seed), split=args.split, seed=args.seed)[: args.tasks]
    if args.unseen_by is not None:
        tasks, dropped = unseen(tasks, load_tasks(suite_dir(args.suite, args.unseen_by), split="train", seed=args.unseen_by))
        print(f"--unseen-by {args.unseen_by}: {dropped} held-out question(s) of seed {args.unseen_by}'s training tasks "
              f"dropped, {len(tasks)} task(s) left", file=sys.stderr)
    out = Path(args.out or f"runs/bench-eval-{args.suite}-{args.split}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    settings = dict(item.split("=", 1) for item in args.set)
    ctx = Context.build({**settings, "run_dir": str(out), "seed": args.seed})
    inputs = {"tasks": tasks, "methods": args.methods.split(",")}
    if args.updates:
        inputs["updates"] = args.updates.split(",")
    if args.curation:
        inputs["curations"] = [c.split(",") for c in args.curation]
    t0 = time.perf_counter()
    done = []
    _, values = RunStore(out / "checkpoints.sqlite").start(
        "evaluate", inputs, ctx, on_update=lambda node, u: done.extend(u.get("done") or []) or (
            node == "cell" and print(f"  [{time.perf_counter() - t0:6.0f}s] {u['done'][-1]['task']} / "
                                     f"{u['done'][-1]['method']}: {u['done'][-1]['outcome']}", file=sys.stderr)))
    rep = values["eval_report"]
    held = sum(len(t["held_out"]) for t in tasks)
    print(f"suite {args.suite} ({args.split}): {len(tasks)} tasks, {held} held-out items; policy {ctx.policy}, "
          f"judge {ctx.judge} ({ctx.judge_reading}); {time.perf_counter() - t0:.0f} s; report {out / 'eval_report.md'}\n")
    print(f"{'method':<40}{'accuracy':>16}{'gain':>8}{'95% CI':>16}{'gained/lost':>13}{'adj.win':>9}"
          f"{'hurt/helped':>13}{'cost/task':>10}")
    for r in rep["methods"]:
        acc = f"{r['accuracy_original']:.1%}->{r['accuracy_updated']:.1%}" if r.get("verified") else "-"
        gain = f"{r['accuracy_gain'] * 100:+.1f}" if r.get("verified") else "-"
        ci = r["accuracy_gain_ci"]
        ci = f"[{ci[0] * 100:+.1f},{ci[1] * 100:+.1f}]" if ci else "-"
        win = f"{r['adjusted_win_rate']:.3f}" if r["adjusted_win_rate"] is not None else "-"
        print(f"{r['method']:<40}{acc:>16}{gain:>8}{ci:>16}{str(r.get('gained', '-')) + '/' + str(r.get('lost', '-')):>13}"
              f"{win:>9}{str(r['tasks_hurt']) + '/' + str(r['tasks_helped']):>13}{r['cost_per_task']:>10g}")
    ref = None if args.no_ceiling else ceiling(ctx, tasks)
    if ref:
        print(f"{'ceiling (reference, reads the questions)':<40}{ref['original']:.1%}->{ref['ceiling']:.1%}".ljust(56) +
              f"{(ref['ceiling'] - ref['original']) * 100:>+8.1f}{'':>16}{str(ref['gained']) + '/' + str(ref['lost']):>13}")
        print(f"\nceiling: each held-out question with its own {2} best corpus passages in context "
              "(a reference for the distance to what retrieval can give, never a method)")


if __name__ == "__main__":
    main()
