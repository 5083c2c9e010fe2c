"""Which bought rows icl-knn should put before a held-out question: selection settings compared on
the same bought data, with the real policy and the verifier.

The bought data is the retrieval rule's (one ``information_retrieval`` call per observed
instruction, ``--k`` passages a call, as ``bench/evaluate.py --methods retrieval`` buys it), so
every variant sees the same rows and only the selection differs. Each variant is
``name:setting=value,...`` over the icl-knn settings ``floor`` (knn_min_similarity), ``rows``
(knn_rows), ``overlap`` (knn_min_overlap), ``context`` (knn_context_overlap) and ``support``
(knn_answer_support: an answer drawing less of its wording from its context gives way to the
answer without it); unset ones keep the defaults. Prints, per variant, the accuracy, gain, items
gained / lost against the policy without data, how many questions got a context, how many of those
contexts hold an accepted answer, and how many answers fell back for want of support.

    .venv/bin/python bench/selection.py --split validation --seeds 0,1,2 \\
        --variant off:overlap=0,context=0 --variant default
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = {"floor": ("min_similarity", "knn_min_similarity"), "rows": ("max_rows", "knn_rows"),
            "overlap": ("min_overlap", "knn_min_overlap"), "context": ("min_context_overlap", "knn_context_overlap"),
            "support": ("min_answer_support", "knn_answer_support")}


def parse_variant(text: str, ctx) -> tuple[str, dict]:
    """``name:floor=0.4,rows=4`` -> (name, the icl-knn update's selection fields)."""
    name, _, body = text.partition(":")
    fields = {key: getattr(ctx, setting) for key, setting in SETTINGS.values()}
    for part in filter(None, body.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key not in SETTINGS:
            raise SystemExit(f"--variant {text!r}: expected name:setting=value,... with settings {', '.join(SETTINGS)}")
        fields[SETTINGS[key][0]] = None if value.lower() == "none" else (int(value) if key == "rows" else float(value))
    return name, fields


def rule_rows(ctx, corpus, task: dict, k: int) -> list[dict]:
    """The retrieval rule's bought rows for ``task``: one search per observed instruction, ``k``
    passages each, a passage bought twice kept once (as ``bench/evaluate.py --methods retrieval``)."""
    from tools import retrieval

    rows, seen = [], set()
    for q in task["observed"]:
        for hit in retrieval.search(corpus, q if isinstance(q, str) else q["instruction"], k=k,
                                    candidates=ctx.bm25_candidates):
            if hit.id not in seen:
                seen.add(hit.id)
                rows.append({"type": "document", "title": hit.title, "text": hit.text})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    ap.add_argument("--seeds", default="0", help="comma-separated suite seeds (each seed its own NQ suite)")
    ap.add_argument("--k", type=int, default=None, help="passages a retrieval call (default: retrieval_k)")
    ap.add_argument("--variant", action="append", default=[], help="name:setting=value,... (repeat)")
    args = ap.parse_args()

    from evaluate import suite_dir

    from graph.context import Context
    from graph.heldout import answer, items_of
    from graph.nodes import load_model
    from graph.tasks.load import load_tasks
    from llms.embeddings import load_embedder
    from scoring.verify import qa_match, verify
    from tools import retrieval
    from tools.corpus import ensure_corpus
    from trainers.icl import icl_prompt
    from trainers.update import gives_way, nearest_contexts

    ctx = Context()
    variants = [parse_variant(v, ctx) for v in args.variant or ["default"]]
    corpus, k = ensure_corpus(ctx.corpus), args.k or retrieval.passages_per_call(ctx, knowledge=True)
    encode = load_embedder(ctx.embedder).encode
    count = load_model(ctx, ctx.policy).count_tokens
    templates = {"document_template": ctx.prompt("ICL_DOCUMENT"), "example_template": ctx.prompt("ICL_EXAMPLE")}

    items, pools = [], []  # pools: each task's bought rows and how many of the items (in order) are its
    for seed in (int(s) for s in args.seeds.split(",")):
        for task in load_tasks(suite_dir("nq", seed), split=args.split, seed=seed):
            held = items_of(task["held_out"])
            items += held
            pools.append((rule_rows(ctx, corpus, task, k), len(held)))
    questions = [it["instruction"] for it in items]
    bare = answer(ctx, ctx.policy, questions)
    original = [bool(verify(it, a)) for it, a in zip(items, bare)]
    print(f"NQ {args.split}, seeds {args.seeds}: {len(items)} questions, {k} passages a call; "
          f"the policy without data answers {sum(original)} ({100 * sum(original) / len(items):.1f}%)")
    print(f"{'variant':12s} {'settings':72s} {'accuracy':>9s} {'gain':>6s} {'gained/lost':>11s} {'context':>7s} "
          f"{'answer in it':>12s} {'fell back':>9s}")
    for name, fields in variants:
        t0 = time.perf_counter()
        contexts: list[str] = []
        for rows, n in pools:  # a task's questions together: its rows are encoded once
            updated = {"kind": "icl-knn", "policy": ctx.policy, "rows": rows, "token_budget": ctx.icl_token_budget, **fields}
            contexts += nearest_contexts(updated, questions[len(contexts):len(contexts) + n], encode=encode,
                                         count_tokens=count, **templates)
        prompts = [icl_prompt(c, q, ctx.prompt("ICL_KNN_PROMPT")) for c, q in zip(contexts, questions)]
        answers = answer(ctx, ctx.policy, prompts)
        floor = fields["min_answer_support"] or 0.0  # as graph/heldout.py asks: an unsupported answer gives way
        back = [gives_way(q, p, a, floor) for q, a, p in zip(questions, answers, prompts)]
        answers = [b if f else a for a, b, f in zip(answers, bare, back)]
        ok = [bool(verify(it, a)) for it, a in zip(items, answers)]
        gained = sum(n and not o for n, o in zip(ok, original))
        lost = sum(o and not n for n, o in zip(ok, original))
        held = sum(bool(c) and qa_match(c, it["answers"]) for c, it in zip(contexts, items))
        settings = ", ".join(f"{key}={fields[f]}" for key, (f, _) in SETTINGS.items())
        print(f"{name:12s} {settings:72s} {100 * sum(ok) / len(items):8.1f}% {100 * (sum(ok) - sum(original)) / len(items):+6.1f} "
              f"{gained:>5d} / {lost:<3d} {sum(bool(c) for c in contexts):>7d} {held:>12d} {sum(back):>9d}   "
              f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
