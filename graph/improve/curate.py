"""Curation: a pipeline of named steps over the gathered rows, each recording what it dropped and why.

``curate(rows, ctx)`` always drops empty rows first, then runs ``ctx.curation`` in order. Each
step is a function ``(rows, ctx) -> (kept, [(row, reason), ...])`` over rows that carry their
scores (``judge``, ``ifd``, ``ppl``, ``dual_ifd``; computed by the graph's scoring nodes for the
steps that need them, ``needed_scores``). The log gives, per step, rows in / kept / dropped with
up to three examples, and goes into report.json and report.md.

| step        | keeps a row when                                              | setting(s)                |
|-------------|---------------------------------------------------------------|---------------------------|
| dedupe      | its text (case and spacing aside) was not kept before         |                           |
| verify      | a pair's response passes every check it must (IFEval checks   |                           |
|             | of the task; rows of a task without checks pass)              |                           |
| grounded    | a pair's response states no fact (name, number) that no       | grounding                 |
|             | passage the run bought holds (where items carry answers)      |                           |
| judge       | judge score (0..1) >= min_judge_score, or it is unrated       | min_judge_score           |
| isheep      | quality and following ratings both >= threshold (I-SHEEP)     | assess_threshold          |
| perplexity  | response perplexity given the instruction <= max (I-SHEEP)    | max_perplexity            |
| ifd         | min_ifd <= IFD < max_ifd on the policy (Cherry LLM)           | min_ifd, max_ifd          |
| star        | judge score x dual-model IFD > min_star_score (Star-Agents)   | large_model, min_star_score |
| relevance   | embedding similarity to the nearest observed instruction      | min_relevance             |
|             | >= min_relevance                                              |                           |
| format      | a pair's instruction reads as an instruction and its response |                           |
|             | neither restates it nor carries leftover markers              |                           |

Documents have no (instruction, response) pair: the pair-only steps (isheep aside, which the
judge's reading of "tell me about <title>" covers) pass them through.
"""

from __future__ import annotations

import re
from typing import Callable

from graph.context import Context

Dropped = list[tuple[dict, str]]
StepFn = Callable[[list[dict], Context], tuple[list[dict], Dropped]]

SCORES_NEEDED = {"judge": {"judge"}, "isheep": {"judge"}, "perplexity": {"ifd"}, "ifd": {"ifd"},
                 "star": {"judge", "ifd", "dual_ifd"}, "relevance": {"relevance"}}


def needed_scores(steps: list[str]) -> set[str]:
    """Which scores the graph must compute for ``steps``."""
    return set().union(*(SCORES_NEEDED.get(s, set()) for s in steps)) if steps else set()


def row_key(row: dict) -> str:
    """What makes two rows the same data, whitespace and case aside."""
    text = row.get("text") if row.get("type") == "document" else f"{row.get('instruction')}\n{row.get('response')}"
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def is_pair(row: dict) -> bool:
    return row.get("type") != "document"


def _filter(rows: list[dict], reason: Callable[[dict], str | None]) -> tuple[list[dict], Dropped]:
    kept, dropped = [], []
    for row in rows:
        why = reason(row)
        if why:
            dropped.append((row, why))
        else:
            kept.append(row)
    return kept, dropped


# ---- steps ----------------------------------------------------------------------------------

def drop_empty(rows, ctx):
    return _filter(rows, lambda r: "empty" if not row_key(r) or (is_pair(r) and not (
        str(r.get("instruction") or "").strip() and str(r.get("response") or "").strip())) else None)


def dedupe(rows, ctx):
    seen: set[str] = set()

    def reason(row):
        key = row_key(row)
        if key in seen:
            return "duplicate"
        seen.add(key)
        return None

    return _filter(rows, reason)


# Facts a response states: names (capitalised words; one that opens a sentence counts unless it is
# a common opening word) and numbers.
_WORD = re.compile(r"[A-Za-z][\w'’-]*|\d[\d,.]*\d|\d")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")
_NOT_FACTS = frozenset("""a about above after again all also although an and another any are as at be because been
before being both but by can could did do does each either even every few first for from further had has have he her
here hers him his how however i i'd i'll i'm i've if in instead into is it it's its just let many may more most much
must my neither no nor not note now of ok okay on once one only or other our out over perhaps please question
response instruction answer finally second step sure than that the their them then there these they third this those
though through thus to too under unlike until up upon we well were what when where whether which while who whom whose
why will with within without would yes yet you your""".split())


def fact_terms(text: str) -> list[str]:
    """The names and numbers ``text`` states."""
    terms = []
    for m in _WORD.finditer(text or ""):
        word = re.sub(r"['’]s$", "", m.group(0)).strip("'’-.,")
        if word and (word[0].isdigit() or word[0].isupper()) and word.lower() not in _NOT_FACTS:
            terms.append(word)
    return list(dict.fromkeys(terms))


def _grounded_by_source(row: dict) -> bool:
    """A teacher's answer, or an answer the policy wrote from retrieved passages (question answering
    without a teacher), is grounded where it was made."""
    prov = row.get("provenance") or {}
    return row.get("type") == "qa" and bool(prov.get("teacher") or prov.get("grounded_in"))


def grounded(rows, ctx):
    if ctx.grounding != "on":  # auto is resolved by the curate node: on where held-out items carry answers
        return list(rows), []
    bought = " ".join(" ".join(str(r.get(k) or "") for k in ("title", "text")) for r in rows
                      if r.get("type") == "document").lower()

    def reason(row):
        if not is_pair(row) or _grounded_by_source(row):
            return None
        missing = [t for t in fact_terms(str(row.get("response") or "")) if t.lower() not in bought]
        if not missing:
            return None
        return f"states facts found in no passage the run bought{'' if bought else ' (it bought none)'}: {', '.join(missing[:8])}"

    return _filter(rows, reason)


def verify(rows, ctx):
    """Drop pairs whose response fails a check they carry (``row["checks"]``: the verified tool's
    own, or the task's, attached by the curate node on a task with checks), naming the check."""
    def reason(row):
        if not is_pair(row) or not row.get("checks"):
            return None
        from scoring.verify import failed_checks

        failed = failed_checks(row["checks"], str(row.get("response") or ""), prompt=str(row.get("instruction") or ""))
        return f"fails the check(s) {', '.join(failed)}" if failed else None

    return _filter(rows, reason)


def judge_threshold(rows, ctx):
    def reason(row):
        score = (row.get("judge") or {}).get("score")
        return f"judge score {score:.2f} < {ctx.min_judge_score:g}" if score is not None and score < ctx.min_judge_score else None

    return _filter(rows, reason)


def isheep_threshold(rows, ctx):
    t = ctx.assess_threshold

    def reason(row):
        j = row.get("judge") or {}
        q, f = j.get("quality"), j.get("following")
        if q is None or f is None:
            return "no rating (the judge's assessment did not parse)"
        return f"ratings quality {q} / following {f} below {t}" if q < t or f < t else None

    return _filter(rows, reason)


def perplexity(rows, ctx):
    def reason(row):
        ppl = row.get("ppl")
        if not is_pair(row) or ppl is None:
            return None
        return f"perplexity {ppl:.1f} > {ctx.max_perplexity:g}" if ppl > ctx.max_perplexity else None

    return _filter(rows, reason)


def ifd_band(rows, ctx):
    def reason(row):
        v = row.get("ifd")
        if not is_pair(row) or v is None:
            return None
        return None if ctx.min_ifd <= v < ctx.max_ifd else f"IFD {v:.3f} outside [{ctx.min_ifd:g}, {ctx.max_ifd:g})"

    return _filter(rows, reason)


def star(rows, ctx):
    def reason(row):
        judge, dual = (row.get("judge") or {}).get("score"), row.get("dual_ifd")
        if not is_pair(row):
            return None
        if judge is None or dual is None:
            return "no composite score (judge or dual IFD missing)"
        row["star_score"] = judge * dual
        return None if row["star_score"] > ctx.min_star_score else \
            f"composite {judge:.2f} x {dual:.2f} = {row['star_score']:.3f} <= {ctx.min_star_score:g}"

    return _filter(rows, reason)


def relevance_text(row: dict) -> str:
    """What a row is about: a document's title and text, a pair's instruction."""
    if row.get("type") == "document":
        return f"{row.get('title') or ''}. {row.get('text') or ''}".strip(". ")
    return str(row.get("instruction") or "")


def relevance_scores(rows: list[dict], observed: list[str], encode) -> list[float]:
    """Cosine similarity of each row to its nearest observed instruction (``encode``: texts -> unit vectors)."""
    import numpy as np

    if not rows or not observed:
        return [0.0] * len(rows)
    r = np.asarray(encode([relevance_text(x) for x in rows]), dtype=np.float32)
    o = np.asarray(encode(list(observed)), dtype=np.float32)
    return [round(float(v), 4) for v in (r @ o.T).max(axis=1)]


def relevance(rows, ctx):
    def reason(row):
        r = row.get("relevance")
        return f"relevance {r:.2f} < {ctx.min_relevance:g} to the nearest observed instruction" \
            if r is not None and r < ctx.min_relevance else None

    return _filter(rows, reason)


# An instruction asks for something: a question, or a request that opens with (or soon uses) a verb
# of asking. A statement ("The cat sat on the mat.") is data, not an instruction.
_ASKING = re.compile(
    r"\b(what|how|why|who|whom|whose|when|where|which|is|are|do|does|did|can|could|should|would|will|"
    r"write|explain|describe|list|give|name|tell|compare|summari[sz]e|translate|calculate|compute|create|"
    r"find|identify|define|classify|suggest|generate|provide|rewrite|convert|solve|show|discuss|outline|"
    r"design|make|choose|select|rank|sort|fill|complete|answer|edit|correct|analy[sz]e|evaluate|"
    r"predict|imagine|propose|recommend|plan|draft|compose|paraphrase|please|help)\b", re.I)
_MARKERS = re.compile(r"^\s*(premise|hypothesis|instruction|response|input|output|question|answer)\s*[:#]", re.I)


def format_problem(row: dict) -> str | None:
    """Why a pair is malformed, or None: the 'instruction' is not one, or the response is empty,
    restates the instruction, or starts with a leftover marker."""
    from records import has_pair

    if not is_pair(row) or not has_pair(row):
        return None
    instruction, response = " ".join(str(row["instruction"]).split()), " ".join(str(row["response"]).split())
    head = " ".join(instruction.split()[:4])
    if not (instruction.endswith("?") or _ASKING.search(head)):
        return "the instruction is a statement, not a request"
    if _MARKERS.match(response) or _MARKERS.match(instruction):
        return "a leftover format marker (Premise:, Instruction:, ...)"
    norm_i, norm_r = instruction.lower().rstrip("?.! "), response.lower().rstrip("?.! ")
    if norm_r == norm_i or (len(norm_i) > 20 and norm_i in norm_r and len(norm_r) < 1.5 * len(norm_i)):
        return "the response restates the instruction"
    if len(norm_r.split()) < 1 or len(norm_r) < 2:
        return "the response is empty"
    return None


def format_check(rows, ctx):
    return _filter(rows, format_problem)


STEPS: dict[str, StepFn] = {"dedupe": dedupe, "verify": verify, "grounded": grounded, "judge": judge_threshold, "isheep": isheep_threshold,
                            "perplexity": perplexity, "ifd": ifd_band, "star": star, "relevance": relevance,
                            "format": format_check}


# ---- pipeline -------------------------------------------------------------------------------

def _summary(row: dict) -> dict:
    text = row.get("text") if row.get("type") == "document" else f"{row.get('instruction')} -> {row.get('response')}"
    return {"type": row.get("type"), "source": row.get("source"), "call": row.get("call"),
            "text": " ".join(str(text or "").split())[:200]}


def curate(rows: list[dict], ctx: Context) -> tuple[list[dict], list[dict], list[dict]]:
    """(kept rows, dropped rows with step and reason, one log entry per step)."""
    log, dropped_all = [], []
    for name, fn in [("empty", drop_empty)] + [(s, STEPS[s]) for s in ctx.curation]:
        kept, dropped = fn(list(rows), ctx)
        log.append({"step": name, "in": len(rows), "kept": len(kept), "dropped": len(dropped),
                    "examples": [{**_summary(r), "reason": why} for r, why in dropped[:3]]})
        dropped_all += [{"row": _summary(r), "step": name, "reason": why} for r, why in dropped]
        rows = kept
    return rows, dropped_all, log
