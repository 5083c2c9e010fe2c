"""The in-context update: pack the collected rows into the policy's context, then ask.

``pack`` fits rows into a token budget, highest scored first, measuring the packed text itself
with the policy's tokenizer (token counts do not add up across joins, so every candidate text is
counted whole); ``icl_prompt`` wraps the packed block in the ADS paper's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from records import instruction_of, response_of

from .formats import PAIR_TYPES

SEPARATOR = "\n\n"


@dataclass
class Packed:
    text: str  # the packed block, as it goes into {data}
    used: list[dict] = field(default_factory=list)  # rows in the block, in block order
    dropped: list[dict] = field(default_factory=list)  # rows that did not fit the budget
    tokens: int = 0  # count_tokens(text)


def by_score(rows: Sequence[dict], score: Callable[[dict], float | None] | None = None) -> list[dict]:
    """Highest score first (``row["score"]`` unless ``score`` reads it elsewhere); rows without a
    score keep their order, after the scored ones."""
    score = score or (lambda r: r.get("score"))
    keyed = [(score(r), i, r) for i, r in enumerate(rows)]
    return [r for s, i, r in sorted(keyed, key=lambda t: (t[0] is None, -(t[0] or 0.0), t[1]))]


def format_row(row: dict, n: int, *, document: str, example: str) -> str:
    """One row as it reads in the packed block: a document (``document`` template, filled with n,
    title, text) or an instruction-response pair (``example``: n, instruction, response)."""
    kind = row.get("type")
    if kind == "document" or (kind is None and "text" in row):
        if not str(row.get("text") or "").strip():
            raise ValueError(f"document row has no text: {row!r:.120}")
        block = document.format(n=n, title=row.get("title") or "", text=row["text"])
        return "\n".join(line.rstrip() for line in block.strip().splitlines())  # an untitled document leaves no gap
    if kind in PAIR_TYPES or kind is None:
        try:
            instruction, response = instruction_of(row), response_of(row)
        except KeyError as e:
            raise ValueError(f"row of type {kind!r} cannot be packed ({e.args[0]}): {row!r:.120}") from None
        return example.format(n=n, instruction=instruction, response=response)
    raise ValueError(f"unknown row type {kind!r}: expected document, {', '.join(PAIR_TYPES)}")


def pack(rows: Sequence[dict], count_tokens: Callable[[str], int], budget: int, *, document: str, example: str,
         score: Callable[[dict], float | None] | None = None) -> Packed:
    """Fit rows into ``budget`` tokens, best first; a row that does not fit is dropped whole and
    smaller, lower-scored rows may still take its place. ``count_tokens(result.text) <= budget``."""
    if budget < 0:
        raise ValueError(f"token budget must be >= 0, got {budget}")
    packed = Packed(text="")
    for row in by_score(rows, score):
        block = format_row(row, len(packed.used) + 1, document=document, example=example)
        candidate = packed.text + SEPARATOR + block if packed.text else block
        tokens = count_tokens(candidate)
        if tokens <= budget:
            packed.text, packed.tokens = candidate, tokens
            packed.used.append(row)
        else:
            packed.dropped.append(row)
    return packed


def icl_prompt(packed_text: str, instruction: str, template: str) -> str:
    """``template`` (the ADS paper's ``ICL_PROMPT``) filled with the packed data and the instruction;
    with nothing packed, the instruction alone."""
    if not packed_text.strip():
        return instruction
    return template.format(data=packed_text, instruction=instruction)
