"""Rules that choose among a held-out question's candidate answers, compared on the same answers.

The candidates are the policy's answers with the question's whole icl-knn context, with each of its
rows alone and without context; a rule keeps one by agreement among them or by the policy's own
log-probs, never by the accepted answers.

The bought data is the retrieval rule's (as ``bench/selection.py``: one ``information_retrieval``
call per observed instruction, ``retrieval_k`` passages a call), the selection the default one.
Prints, per rule, the accuracy, gain and items gained / lost against the policy without data, and
an oracle (any candidate right), the room a better choice would have. NQ suites only.

    .venv/bin/python bench/answers.py --split validation --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def agree(question: str, a: str, b: str, share: float, words: Callable[[str], set]) -> bool:
    """Two answers agree where their content words beyond the question's overlap by ``share`` of
    the smaller set (an answer adding no word of its own agrees with none)."""
    q = words(question)
    x, y = words(a) - q, words(b) - q
    return bool(x and y) and len(x & y) / min(len(x), len(y)) >= share


def most_agreed(question: str, answers: Sequence[str], share: float, words: Callable[[str], set]) -> int:
    """Index of the answer agreeing with the most others (the first of equals)."""
    return max(range(len(answers)), key=lambda i: (sum(agree(question, answers[i], b, share, words)
                                                       for j, b in enumerate(answers) if j != i), -i))


def best(scores: Sequence[float]) -> int:
    """Index of the highest score (the first of equals)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def mean(pair: tuple[float, int]) -> float:
    """Mean token log-prob from (sum, tokens)."""
    return pair[0] / max(pair[1], 1)


def rules(words: Callable[[str], set]) -> dict[str, Callable[[dict], int]]:
    """Rule name -> the index (into ``r["answers"]``: whole context, each row alone, bare) it keeps
    for a question ``r`` with a context. ``r["lp"][prompt][i]`` is (sum, tokens) of answer i's
    log-prob under the whole-context prompt ("full"), its own prompt ("own") or the bare question ("bare")."""
    last = lambda r: len(r["answers"]) - 1  # noqa: E731  the bare answer

    def default(r: dict) -> int:
        return last(r) if r["gives_way"] else 0

    def full_if_agreed(r: dict) -> int:
        if r["gives_way"]:
            return last(r)
        return 0 if any(agree(r["q"], r["answers"][0], a, 1 / 3, words) for a in r["answers"][1:-1]) else last(r)

    def agreed_most(r: dict) -> int:
        return last(r) if r["gives_way"] else most_agreed(r["q"], r["answers"][:-1], 0.5, words)

    return {
        "the default (whole context, the support check)": default,
        "the whole context, no support check": lambda r: 0,
        "after the support check, whole context only where it shares a third of its new words with a row's answer":
            full_if_agreed,
        "after the support check, the answer agreeing with most others (whole context and rows, half the words)":
            agreed_most,
        "the candidate the policy is surest of (mean log-prob, own prompt)":
            lambda r: best([mean(p) for p in r["lp"]["own"]]),
        "whole context or bare, the higher under the whole-context prompt":
            lambda r: best([mean(r["lp"]["full"][0]), mean(r["lp"]["full"][-1])]) * last(r),
        "the highest log-prob gain over the bare question (PMI)":
            lambda r: best([mean(f) - mean(b) for f, b in zip(r["lp"]["full"], r["lp"]["bare"])]),
    }


def tally(original: Sequence[bool], kept: Sequence[bool]) -> tuple[float, float, int, int]:
    """(accuracy %, gain in points, gained, lost) of ``kept`` against ``original``."""
    n = len(original)
    return (100 * sum(kept) / n, 100 * (sum(kept) - sum(original)) / n,
            sum(k and not o for k, o in zip(kept, original)), sum(o and not k for k, o in zip(kept, original)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    ap.add_argument("--seeds", default="0", help="comma-separated suite seeds (each seed its own NQ suite)")
    args = ap.parse_args()

    from evaluate import suite_dir
    from selection import parse_variant, rule_rows

    from graph.context import Context
    from graph.heldout import answer, items_of
    from graph.nodes import load_model
    from graph.tasks.load import load_tasks
    from llms.embeddings import load_embedder
    from scoring.verify import verify
    from tools import retrieval
    from tools.corpus import ensure_corpus
    from trainers.icl import icl_prompt, pack
    from trainers.update import content_words, gives_way, nearest_contexts, nearest_rows

    ctx = Context()
    corpus, k = ensure_corpus(ctx.corpus), retrieval.passages_per_call(ctx, knowledge=True)
    encode = load_embedder(ctx.embedder).encode
    llm = load_model(ctx, ctx.policy)
    templates = {"document_template": ctx.prompt("ICL_DOCUMENT"), "example_template": ctx.prompt("ICL_EXAMPLE")}
    fields = parse_variant("default", ctx)[1]  # icl-knn's selection settings at their defaults

    recs: list[dict] = []  # per question: item, question, its whole context, each of its rows alone
    for seed in (int(s) for s in args.seeds.split(",")):
        for task in load_tasks(suite_dir("nq", seed), split=args.split, seed=seed):
            rows = rule_rows(ctx, corpus, task, k)
            held = items_of(task["held_out"])
            qs = [it["instruction"] for it in held]
            updated = {"kind": "icl-knn", "policy": ctx.policy, "rows": rows, "token_budget": ctx.icl_token_budget, **fields}
            near = nearest_rows(updated, qs, encode=encode)
            whole = nearest_contexts(updated, qs, encode=encode, count_tokens=llm.count_tokens, near=near, **templates)
            for it, q, c, ranked in zip(held, qs, whole, near):
                singles = [pack([r], llm.count_tokens, ctx.icl_token_budget, document=templates["document_template"],
                                example=templates["example_template"]).text for r in ranked] if c else []
                recs.append({"item": it, "q": q, "ctx": c, "singles": singles})

    template = ctx.prompt("ICL_KNN_PROMPT")
    bare = answer(ctx, ctx.policy, [r["q"] for r in recs])
    original = [bool(verify(r["item"], a)) for r, a in zip(recs, bare)]
    with_ctx = [r for r in recs if r["ctx"]]
    prompts = [[icl_prompt(c, r["q"], template) for c in [r["ctx"], *r["singles"]]] for r in with_ctx]
    flat = answer(ctx, ctx.policy, [p for ps in prompts for p in ps])
    at = {id(r): j for j, r in enumerate(recs)}
    jobs = []  # (question, answer index, prompt kind, prompt, answer): the log-probs every rule reads
    for r, ps in zip(with_ctx, prompts):
        r["answers"] = [*flat[:len(ps)], bare[at[id(r)]]]
        del flat[:len(ps)]
        r["gives_way"] = gives_way(r["q"], ps[0], r["answers"][0], fields["min_answer_support"])
        r["ok"] = [bool(verify(r["item"], a)) for a in r["answers"]]
        own = [*ps, r["q"]]
        for i, a in enumerate(r["answers"]):
            jobs += [(r, i, "own", own[i], a), (r, i, "full", ps[0], a), (r, i, "bare", r["q"], a)]
    scores = llm.logprobs([llm.render(p) for *_, p, _ in jobs], [a for *_, a in jobs], batch_size=ctx.batch_size)
    for (r, i, kind, _, _), lp in zip(jobs, scores):
        r.setdefault("lp", {}).setdefault(kind, [None] * len(r["answers"]))[i] = (float(sum(lp)), len(lp))

    print(f"NQ {args.split}, seeds {args.seeds}: {len(recs)} questions, {len(with_ctx)} with a context; "
          f"the policy without data answers {sum(original)} ({100 * sum(original) / len(recs):.1f}%)")
    table = dict(rules(content_words))
    table["an oracle (any candidate right; reads the answers)"] = lambda r: r["ok"].index(True) if any(r["ok"]) else 0
    for name, rule in table.items():
        kept = list(original)
        for r in with_ctx:
            kept[at[id(r)]] = r["ok"][rule(r)]
        acc, gain, won, lost = tally(original, kept)
        print(f"{name:92s} {acc:5.1f}% {gain:+5.1f}  {won} / {lost}")


if __name__ == "__main__":
    main()
