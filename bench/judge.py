"""How well each way of reading a judge orders a right answer above a wrong one, on the real policy.

Hand-made pairs (an instruction, a right answer, a nonsense or off-topic one). For each reading
of ``scoring.assess.self_assess`` (logprobs: yes/no questions; tokens: the 1-10 rating tokens'
mean; text: a parsed reply) and of ``scoring.judge.pairwise`` (logprobs, tokens, text), prints how
many pairs it orders correctly, how many it cannot decide, and its seconds.

    .venv/bin/python bench/judge.py [--judge local:smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAIRS = [
    ("What is the capital of France?", "The capital of France is Paris.", "Bananas are yellow and I like trains."),
    ("Name the largest planet in the solar system.", "Jupiter is the largest planet in the solar system.", "asdf qwer zxcv"),
    ("Translate hello to French.", "Bonjour.", "Hello hello hello hello."),
    ("How many legs does a spider have?", "A spider has eight legs.", "The weather is nice today in Berlin."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet.", "Romeo and Juliet is a fruit salad recipe."),
    ("What is 2 + 3?", "2 + 3 = 5.", "Premise: the cat sat on the mat."),
    ("Give a synonym for happy.", "Joyful.", "Happy is sad and green."),
    ("What color is the sky on a clear day?", "The sky is blue on a clear day.", "I cannot answer questions about trees in Spain."),
    ("Which gas do plants absorb from the air?", "Plants absorb carbon dioxide.", "Plants absorb the moon."),
    ("What is the boiling point of water at sea level in Celsius?", "100 degrees Celsius.", "The answer is Earth science."),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", default="local:smollm2-135m-instruct")
    args = ap.parse_args()

    import llms
    from graph.context import Context
    from scoring.assess import self_assess
    from scoring.judge import pairwise

    ctx = Context()
    llm = llms.load(args.judge)
    binary = {"quality": (ctx.prompt("JUDGE_QUALITY_QUESTION"), ctx.prompt("JUDGE_QUALITY_ANSWER")),
              "following": (ctx.prompt("JUDGE_FOLLOWING_QUESTION"), ctx.prompt("JUDGE_FOLLOWING_ANSWER"))}
    rows = [{"instruction": q, "response": r} for q, good, bad in PAIRS for r in (good, bad)]
    print(f"judge {args.judge}, {len(PAIRS)} hand-made (right, wrong) pairs\n")
    print(f"{'self-assessment reading':<26}{'right > wrong':>14}{'undecided':>11}{'seconds':>9}")
    for reading in ("logprobs", "tokens", "text"):
        t0 = time.perf_counter()
        got = self_assess(llm, rows, prompt=ctx.prompt("SELF_ASSESS_PROMPT"), binary=binary, reading=reading)
        seconds = time.perf_counter() - t0
        right = undecided = 0
        for k in range(len(PAIRS)):
            a, b = got[2 * k].score, got[2 * k + 1].score
            if a is None or b is None or a == b:
                undecided += 1
            else:
                right += a > b
        print(f"{reading:<26}{right:>10}/{len(PAIRS):<3}{undecided:>11}{seconds:>9.1f}")
    print(f"\n{'pairwise reading':<26}{'right wins':>14}{'tie/none':>11}{'seconds':>9}")
    qs = [q for q, _, _ in PAIRS]
    for reading in ("logprobs", "tokens", "text"):
        t0 = time.perf_counter()
        v = pairwise(llm, qs, [g for _, g, _ in PAIRS], [b for _, _, b in PAIRS], system=ctx.prompt("JUDGE_PAIRWISE_SYSTEM"),
                     template=ctx.prompt("JUDGE_PAIRWISE_PROMPT"), reading=reading, quality=binary["quality"],
                     tie_margin=ctx.judge_tie_margin, max_new_tokens=256)
        seconds = time.perf_counter() - t0
        wins = sum(x.winner == "A" for x in v)
        print(f"{reading:<26}{wins:>10}/{len(PAIRS):<3}{sum(x.winner in ('tie', None) for x in v):>11}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
