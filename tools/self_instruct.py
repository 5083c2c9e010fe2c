"""Self-Instruct: a model writes new task instructions in context from a sample of a task pool,
and heuristic filters keep the usable ones (Wang et al. 2022; Alpaca's variant, which I-SHEEP uses).

``generate_instructions(llm, pool, n=..., prompt=...)`` samples ``examples_per_prompt`` tasks of
the pool into each prompt's ``{examples}`` (Alpaca's encoding: ``N. Instruction: ...`` / ``N. Input:``
blocks between ``###`` lines), lets the model continue the list, and parses every complete block into an Alpaca
candidate ``{"instruction", "input", "provenance"}``. Where the backend continues raw text, the
reply is started with the next block's ``N. Instruction:``, so even a small model writes one.

The filters are pure functions ``(rows, ...) -> (kept, [(row, reason), ...])``; ``heuristic_filters``
runs them in order and logs, per filter, rows in / kept / dropped with examples:

* ``length``: 4 to 150 words (Alpaca drops <= 3 and > 150);
* ``banned``: words a text-only model cannot act on (image, graph, picture, file, map, draw, plot,
  go to, ...), as whole words, in the instruction or its input;
* ``start``: starting with punctuation or a non-ASCII (non-English) character;
* ``format``: leaked prompt markers (``Instruction:``, ``<noinput>``) or a URL;
* ``near_duplicate``: ROUGE-L F > 0.7 against the pool or an instruction kept before it
  (the ``rouge-score`` package, Google's reference implementation).
"""

from __future__ import annotations

import random
import re
import string
from typing import Sequence

import llms
from records import instruction_of, response_of

Dropped = list[tuple[dict, str]]

BANNED_WORDS = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
                "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")
MIN_WORDS, MAX_WORDS, MAX_ROUGE = 4, 150, 0.7
NO_INPUT = "<noinput>"


# ---- the pool --------------------------------------------------------------------------------

def as_task(row: dict) -> dict:
    """A row as an Alpaca task: Self-Instruct seed tasks (``instances``), Alpaca rows
    (``input``/``output``), instruction-response rows, questions and Vicuna-bench ``turns`` alike;
    KeyError without an instruction."""
    instance = (row.get("instances") or [{}])[0]
    text = next((row[k] for k in ("instruction", "Instruction", "question", "prompt", "turns") if row.get(k)), "")
    if isinstance(text, list):  # Vicuna bench: the first turn is the instruction
        text = text[0] if text else ""
    task = {"instruction": str(text).strip(), "input": str(instance.get("input") or row.get("input") or "").strip()}
    if not task["instruction"]:
        raise KeyError("row has no 'instruction'")
    output = instance.get("output") or row.get("output") or row.get("response")
    if output:
        task["output"] = str(output).strip()
    for key in ("id", "answers", "checks"):  # answers / checks: a held-out item's verifier
        if row.get(key) is not None:
            task[key] = row[key]
    return task


def read_tasks(path) -> list[dict]:
    """Alpaca tasks from a JSONL/JSON/YAML file (``records.read_records``); a row without an
    instruction is an error naming its file and position."""
    from records import RecordError, read_records

    tasks = []
    for i, row in enumerate(read_records(path)):
        try:
            tasks.append(as_task(row))
        except KeyError:
            raise RecordError(f"{path}: row {i + 1}: no instruction (looked for instruction, question, prompt, turns; "
                              "Self-Instruct seed rows, Alpaca rows and Vicuna-bench rows work)") from None
    return tasks


# ---- generation ------------------------------------------------------------------------------

def encode_block(k: int, instruction: str, given: str | None = None) -> str:
    """Task number ``k`` as the generation prompt shows it and ``parse_tasks`` reads it back."""
    return f"{k}. Instruction: {instruction}\n{k}. Input:\n{given or NO_INPUT}\n"


def encode_prompt(examples: Sequence[dict], prompt: str) -> tuple[str, str]:
    """(user message, reply prefix): ``prompt`` with its ``{examples}`` filled with the numbered blocks."""
    if "{examples}" not in prompt:
        raise ValueError("the generation prompt must hold {examples} (where the sampled pool tasks go); "
                         "see SELF_INSTRUCT_PROMPT in graph/prompts.py")
    blocks = []
    for k, ex in enumerate(examples, 1):
        text = " ".join(ex["instruction"].split()).rstrip(":")
        blocks.append("###\n" + encode_block(k, text, ex.get("input")))
    return prompt.format(examples="".join(blocks) + "###"), f"{len(examples) + 1}. Instruction:"


# "N. Instruction: ... \nN. Input: ..." (the number may be missing or wrong; a chat model's reply
# may open with a sentence before the first marker)
_BLOCK = re.compile(r"(?:\d+\.\s*)?Instruction:\s*(?P<instruction>.*?)\s*(?:\n\s*(?:\d+\.\s*)?Input:\s*(?P<input>.*))?$",
                    re.DOTALL)


def parse_tasks(text: str, *, truncated: bool = False) -> list[dict]:
    """The complete ``N. Instruction: ... N. Input: ...`` blocks of a reply (``###`` between
    blocks); a block cut off by the token limit (the last one when ``truncated``) is left out."""
    blocks = text.split("###")
    if truncated and len(blocks) > 1:
        blocks = blocks[:-1]
    elif truncated:
        return []
    out = []
    for block in blocks:
        m = _BLOCK.search(block.strip())
        if not m:
            continue
        given = (m.group("input") or "").strip()
        out.append({"instruction": m.group("instruction").strip(),
                    "input": "" if given.lower() in (NO_INPUT, "<no input>", "none", "n/a") else given})
    return out


def generate_instructions(llm, pool: Sequence[dict], *, n: int, prompt: str, examples_per_prompt: int = 6,
                          temperature: float = 0.7, seed: int = 0, batch_size: int = 8,
                          max_new_tokens: int = 256, max_rounds: int = 5) -> list[dict]:
    """Up to ``n`` candidate tasks (Alpaca: instruction + input), unfiltered, each with its
    provenance (model, the pool examples shown, prompt number, raw reply). Prompts are sent in
    rounds of ``batch_size``; generation stops at ``n`` or after ``max_rounds`` rounds."""
    if not pool:
        raise ValueError("the task pool is empty: give seed tasks (e.g. ../shared/data/self-instruct/seed_tasks.jsonl)")
    if n < 1 or examples_per_prompt < 1:
        raise ValueError(f"n ({n}) and examples_per_prompt ({examples_per_prompt}) must be >= 1")
    k = min(examples_per_prompt, len(pool))
    rng = random.Random(seed)
    out: list[dict] = []
    for round_ in range(max_rounds):
        shown = [rng.sample(range(len(pool)), k) for _ in range(min(batch_size, n - len(out)))]
        params = llms.SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + round_)
        for j, (idx, gen) in enumerate(zip(shown, _continue(llm, [encode_prompt([pool[i] for i in idx], prompt)
                                                                   for idx in shown], params, batch_size))):
            for task in parse_tasks(gen.text, truncated=gen.finish_reason == "length"):
                out.append({**task, "provenance": {"generated_by": llm.spec, "examples": [pool[i].get("id", i) for i in idx],
                                                   "round": round_, "prompt": j, "raw": gen.text}})
        if len(out) >= n:
            break
    return out[:n]


def _continue(llm, prompts: list[tuple[str, str]], params, batch_size: int) -> list:
    """One generation per (message, prefix); the text includes the prefix where it was used."""
    if hasattr(llm, "generate_raw"):
        try:
            raws = [llm.render(message) + prefix for message, prefix in prompts]
        except llms.UnsupportedOperation:
            raws = None
        if raws is not None:
            gens = [g[0] for g in llm.generate_raw(raws, params, batch_size=batch_size)]
            for gen, (_, prefix) in zip(gens, prompts):
                gen.text = prefix + gen.text
            return gens
    return [g[0] for g in llm.generate([message for message, _ in prompts], params, batch_size=batch_size)]


# ---- filters ---------------------------------------------------------------------------------

def _split(rows, reason) -> tuple[list[dict], Dropped]:
    kept, dropped = [], []
    for row in rows:
        why = reason(row)
        (dropped.append((row, why)) if why else kept.append(row))
    return kept, dropped


def _words(text: str) -> int:
    return len(str(text or "").split())


def filter_length(rows: Sequence[dict], *, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS):
    def reason(row):
        words = _words(row.get("instruction"))
        return None if min_words <= words <= max_words else f"{words} words (keep {min_words}-{max_words})"

    return _split(rows, reason)


def filter_banned(rows: Sequence[dict], *, words: Sequence[str] = BANNED_WORDS):
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)

    def reason(row):
        m = pattern.search(str(row.get("instruction") or "")) or pattern.search(str(row.get("input") or ""))
        return f"banned word {m.group(1).lower()!r}" if m else None

    return _split(rows, reason)


def filter_start(rows: Sequence[dict]):
    def reason(row):
        text = str(row.get("instruction") or "").strip()
        if not text:
            return "empty instruction"
        if text[0] in string.punctuation:
            return f"starts with punctuation {text[0]!r}"
        return None if text[0].isascii() else f"starts with a non-English character {text[0]!r}"

    return _split(rows, reason)


_LEAK = re.compile(r"\b(Instruction|Input|Output):|noinput|no input|https?:", re.IGNORECASE)


def filter_format(rows: Sequence[dict]):
    def reason(row):
        m = _LEAK.search(str(row.get("instruction") or "")) or _LEAK.search(str(row.get("input") or ""))
        return f"prompt marker or URL {m.group(0)!r} in the task" if m else None

    return _split(rows, reason)


def filter_near_duplicates(rows: Sequence[dict], pool: Sequence[dict | str], *, max_rouge: float = MAX_ROUGE):
    """Drop a row whose instruction has ROUGE-L F > ``max_rouge`` with a pool instruction or a row
    kept before it; kept rows get ``max_rouge`` (their highest ROUGE-L against what came before)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    seen = [p if isinstance(p, str) else p["instruction"] for p in pool]
    kept, dropped = [], []
    for row in rows:
        text = str(row.get("instruction") or "")
        best, match = 0.0, None
        for other in seen:
            f = scorer.score(other, text)["rougeL"].fmeasure
            if f > best:
                best, match = f, other
        if best > max_rouge:
            dropped.append((row, f"ROUGE-L {best:.2f} > {max_rouge:g} with {match[:80]!r}"))
        else:
            kept.append({**row, "max_rouge": round(best, 4)})
            seen.append(text)
    return kept, dropped


def rouge_filter(texts: Sequence[str], pool: Sequence[str], *, max_rouge: float = MAX_ROUGE) -> tuple[list[str], Dropped]:
    """``filter_near_duplicates`` on plain strings: (kept texts, [(text, reason), ...])."""
    kept, dropped = filter_near_duplicates([{"instruction": t} for t in texts], pool, max_rouge=max_rouge)
    return [r["instruction"] for r in kept], [(r["instruction"], why) for r, why in dropped]


def filter_empty_outputs(rows: Sequence[dict]):
    """Drop pairs whose response is empty (nothing to train on or rate)."""
    def reason(row):
        try:
            return None if response_of(row).strip() and instruction_of(row).strip() else "empty output"
        except KeyError:
            return "no response"

    return _split(rows, reason)


FILTERS = {"length": filter_length, "banned": filter_banned, "start": filter_start, "format": filter_format}


def heuristic_filters(rows: Sequence[dict], pool: Sequence[dict | str], *, max_rouge: float = MAX_ROUGE,
                      min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> tuple[list[dict], Dropped, list[dict]]:
    """(kept, dropped with reason, one log entry per filter) after every heuristic filter in order."""
    steps = [("length", lambda r: filter_length(r, min_words=min_words, max_words=max_words)),
             ("banned", filter_banned), ("start", filter_start), ("format", filter_format),
             ("near_duplicate", lambda r: filter_near_duplicates(r, pool, max_rouge=max_rouge))]
    return run_filters(list(rows), steps)


def run_filters(rows: list[dict], steps) -> tuple[list[dict], Dropped, list[dict]]:
    """Apply ``[(name, fn(rows) -> (kept, dropped))]`` in order; (kept, all dropped with the
    filter's name in the reason, log)."""
    log, dropped_all = [], []
    for name, fn in steps:
        kept, dropped = fn(rows)
        log.append({"step": name, "in": len(rows), "kept": len(kept), "dropped": len(dropped),
                    "examples": [{"instruction": str(r.get("instruction") or "")[:160], "reason": why}
                                 for r, why in dropped[:3]]})
        dropped_all += [(r, f"{name}: {why}") for r, why in dropped]
        rows = kept
    return rows, dropped_all, log
