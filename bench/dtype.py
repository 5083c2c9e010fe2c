"""float32 against bfloat16 for the local policy on this CPU: speed and held-out accuracy, in one run.

    .venv/bin/python bench/dtype.py [--task tasks/planets.yaml] [--tokens 64] [--batch 8]

Speed: batched generation (Vicuna-bench prompts, greedy) and log-prob scoring, tokens per second.
Accuracy: the task's held-out items answered greedily, without context (the original policy) and
with the lead paragraphs of the task's entities packed in context (the ICL update of an improve
run that retrieved the right passages), checked by the task's verifier. Also how many answers are
word for word the same in both dtypes, and the largest log-prob difference on the same texts.
Prints `speed ratio: N` (bfloat16 over float32 tokens/s) and the accuracy of each dtype.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ENTITIES = ("Jupiter", "Mars", "Saturn")  # tasks/planets.yaml's answers are in these lead paragraphs


def context_rows(corpus_dir: Path) -> list[dict]:
    rows = []
    with open(corpus_dir / "passages.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["title"] in ENTITIES:
                rows.append({"type": "document", "title": r["title"], "text": r["text"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=None)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()

    import torch
    from generation import prompts

    import llms
    from graph import prompts as templates
    from graph.tasks.load import load_task
    from llms.registry import ads_home
    from scoring.verify import verify
    from trainers.icl import icl_prompt, pack

    task = load_task(a.task)
    items = [h if isinstance(h, dict) else {"instruction": h} for h in task["held_out"]]
    docs = context_rows(ads_home() / "corpora" / "wiki-offline")
    results = {}
    for dtype in ("float32", "bfloat16"):
        llm = llms.load(llms.DEFAULT_POLICY, dtype=dtype)
        params = llms.SamplingParams(max_new_tokens=a.tokens)
        llm.generate(prompts(2), llms.SamplingParams(max_new_tokens=4), batch_size=2)  # warm-up
        t0 = time.perf_counter()
        out = llm.generate(prompts(a.batch), params, batch_size=a.batch)
        gen_rate = sum(g[0].completion_tokens for g in out) / (time.perf_counter() - t0)
        texts = [g[0].text for g in out]
        t0 = time.perf_counter()
        logprobs = llm.logprobs(prompts(a.batch), texts, batch_size=a.batch)
        score_rate = sum(map(len, logprobs)) / (time.perf_counter() - t0)
        packed = pack(docs, llm.count_tokens, 1024, document=templates.ICL_DOCUMENT, example=templates.ICL_EXAMPLE)
        answers = {
            "no context": llm.complete([it["instruction"] for it in items], max_new_tokens=a.tokens, batch_size=a.batch),
            "in context": llm.complete([icl_prompt(packed.text, it["instruction"], templates.ICL_PROMPT) for it in items],
                                       max_new_tokens=a.tokens, batch_size=a.batch),
        }
        results[dtype] = {"gen": gen_rate, "score": score_rate, "answers": answers, "logprobs": logprobs,
                          "texts": texts, "acc": {k: sum(bool(verify(it, ans)) for it, ans in zip(items, v)) / len(items)
                                                  for k, v in answers.items()}}
        llms.unload(llms.DEFAULT_POLICY)
    f32, b16 = results["float32"], results["bfloat16"]
    # the same texts scored in both dtypes: bfloat16's log-prob error on float32's own answers
    llm = llms.load(llms.DEFAULT_POLICY, dtype="bfloat16")
    again = llm.logprobs(prompts(a.batch), f32["texts"], batch_size=a.batch)
    diff = max(abs(x - y) for u, v in zip(f32["logprobs"], again) for x, y in zip(u, v))
    mean = sum(abs(x - y) for u, v in zip(f32["logprobs"], again) for x, y in zip(u, v)) / sum(map(len, again))

    print(f"task {task['task']}: {len(items)} held-out items; context: lead paragraphs of {', '.join(ENTITIES)}; "
          f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'dtype':<10}{'gen tok/s':>10}{'score tok/s':>12}{'acc no ctx':>11}{'acc in ctx':>11}")
    for name, r in results.items():
        print(f"{name:<10}{r['gen']:>10.1f}{r['score']:>12.1f}{r['acc']['no context']:>11.2f}{r['acc']['in context']:>11.2f}")
    for cond in ("no context", "in context"):
        same = sum(x == y for x, y in zip(f32["answers"][cond], b16["answers"][cond]))
        right = [(bool(verify(it, x)), bool(verify(it, y))) for it, x, y in zip(items, f32["answers"][cond], b16["answers"][cond])]
        print(f"{cond}: answers word for word equal {same}/{len(items)}; items bfloat16 gets right and float32 "
              f"wrong {sum(not x and y for x, y in right)}, the reverse {sum(x and not y for x, y in right)}")
    print(f"log-prob difference bfloat16 vs float32 on the same texts: mean {mean:.3f}, max {diff:.3f} nats per token")
    print(f"speed ratio: {b16['gen'] / f32['gen']:.2f}  (bfloat16 / float32 generation tokens/s; scoring "
          f"{b16['score'] / f32['score']:.2f})")
    print(f"accuracy float32: {f32['acc']['no context']:.2f} / {f32['acc']['in context']:.2f}   "
          f"bfloat16: {b16['acc']['no context']:.2f} / {b16['acc']['in context']:.2f}  (no context / in context)")


if __name__ == "__main__":
    main()
