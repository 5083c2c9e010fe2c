"""Edits toward a check: the form a check prescribes, written into a sample that missed it.

A 135M policy asked to "wrap your entire response with double quotation marks" or to answer "in
all capital letters" almost never does (0 of 16 samples passed ``startend:quotation`` on the
IFEval validation split), so rejection sampling keeps nothing to teach it the form. Many IFEval
checks prescribe a form a program can write: the case of the letters, the quotation marks, a
``<<title>>``, a JSON wrapper, an end phrase, no commas, ``***`` between N paragraphs, N
``SECTION X`` headers, N markdown bullets, N ``*highlighted*`` sentences, the request repeated
first, a length cut below an upper bound. ``edit_toward(checks, response, prompt=...)`` writes
the form of each check the response fails and that has one; the content stays the policy's own.

The edit is never trusted: the caller verifies the edited text with lm-eval's checkers and keeps
it only if it then passes every check (a check without an edit, e.g. ``keywords:existence`` or
``language:response_language``, must pass as sampled). A self-written demonstration may teach a
format this way, never a fact.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Sequence

from .verify import _sentences, failed_checks


def _plain(text: str) -> str:
    """The response as running text: markdown list markers, dividers and headers taken off, so a
    structure edit starts from sentences (the checkers count what it then writes)."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[*\-\u2022]+|\d+[.)]|#+)\s+", "", line).strip()
        if line and not re.fullmatch(r"[*\-_=]{3,}", line):
            lines.append(line)
    return " ".join(lines)


def _groups(text: str, n: int) -> list[str] | None:
    """The response's sentences in ``n`` consecutive groups as even as they go (None: fewer than n)."""
    sentences = [s.strip() for s in _sentences(_plain(text).replace("*", "")) if s.strip()]
    if n < 1 or len(sentences) < n:
        return None
    size, extra = divmod(len(sentences), n)
    out, at = [], 0
    for i in range(n):
        take = size + (1 if i < extra else 0)
        out.append(" ".join(sentences[at: at + take]))
        at += take
    return out


def _bullets(text, kw, prompt):
    groups = _groups(text, int(kw["num_bullets"]))
    return None if groups is None else "\n".join(f"* {g}" for g in groups)


def _paragraphs(text, kw, prompt):
    groups = _groups(text.replace("***", " "), int(kw["num_paragraphs"]))
    return None if groups is None else "\n\n***\n\n".join(groups)


def _sections(text, kw, prompt):
    groups = _groups(text, int(kw["num_sections"]))
    word = str(kw.get("section_spliter") or "Section").strip()
    return None if groups is None else "\n\n".join(f"{word} {i}\n{g}" for i, g in enumerate(groups, 1))


def _highlights(text, kw, prompt):
    n = int(kw["num_highlights"])
    sentences = [s.strip() for s in _sentences(text.replace("*", "")) if s.strip()]
    marked = [s for s in sentences if "\n" not in s][:n]
    if len(marked) < n:
        return None
    out = text.replace("*", "")
    for s in marked:
        out = out.replace(s, f"*{s}*", 1)
    return out


def _cut(text: str, keep: Callable[[str], bool]) -> str | None:
    """The longest run of whole sentences from the start that ``keep`` accepts."""
    sentences = [s.strip() for s in _sentences(text) if s.strip()]
    for k in range(len(sentences) - 1, 0, -1):
        cut = " ".join(sentences[:k])
        if keep(cut):
            return cut
    return None


def _fewer_words(text, kw, prompt):
    if kw.get("relation") != "less than":
        return None
    return _cut(text, lambda t: len(re.findall(r"\w+", t)) < int(kw["num_words"]))


def _fewer_sentences(text, kw, prompt):
    if kw.get("relation") != "less than":
        return None
    return _cut(text, lambda t: len(_sentences(t)) < int(kw["num_sentences"]))


def _title(text, kw, prompt):
    first = next((s for s in _sentences(_plain(text)) if s.strip()), "")
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*", first)[:6]
    return f"<<{' '.join(words)}>>\n\n{text.strip()}" if words else None


def _json(text, kw, prompt):
    # a text already in capitals (the case edit runs first) gets a key in capitals too
    key = "RESPONSE" if text.isupper() else "response"
    return json.dumps({key: text.strip()}, ensure_ascii=False, indent=2)


# id -> edit(text, kwargs, prompt) -> edited text or None (no edit fits). Applied in this order,
# each only where the response fails that check: content cuts first, then the structure of the
# sentences, then what is written around them (end phrase, title), the case, and last the
# wrappers (quotation marks, JSON), which must enclose everything else.
EDITS: dict[str, Callable] = {
    "combination:repeat_prompt": lambda t, kw, p: f"{kw['prompt_to_repeat'].strip()}\n\n{t.strip()}",
    "length_constraints:number_words": _fewer_words,
    "length_constraints:number_sentences": _fewer_sentences,
    "detectable_format:number_bullet_lists": _bullets,
    "detectable_format:multiple_sections": _sections,
    "length_constraints:number_paragraphs": _paragraphs,
    "detectable_format:number_highlighted_sections": _highlights,
    "punctuation:no_comma": lambda t, kw, p: re.sub(r",\s*", " ", t),
    "startend:end_checker": lambda t, kw, p: f"{t.strip().strip(chr(34)).rstrip()} {str(kw['end_phrase']).strip()}",
    "detectable_format:title": _title,
    "change_case:english_lowercase": lambda t, kw, p: t.lower(),
    "change_case:english_capital": lambda t, kw, p: t.upper(),
    "startend:quotation": lambda t, kw, p: f'"{t.strip().strip(chr(34))}"',
    "detectable_format:json_format": _json,
}


def editable(checks: Sequence[dict]) -> list[str]:
    """The ids among ``checks`` that have an edit."""
    return [c["id"] for c in checks if c.get("id") in EDITS]


def edit_toward(checks: Sequence[dict], response: str, *, prompt: str = "") -> tuple[str, list[str]]:
    """``response`` with the form of every check it fails written in, where the check has an edit:
    (edited text, ids edited). Unchanged, with [], where it fails no editable check or no edit fits.
    The caller verifies the result; an edit can undo another (a lowercase ``section 1``)."""
    if not response.strip():
        return response, []
    by_id = {c["id"]: c for c in checks}
    text, done = response, []
    for cid, fn in EDITS.items():
        # whether it fails is asked of the text as edited so far: an earlier edit may have made it pass
        if cid not in by_id or not failed_checks([by_id[cid]], text, prompt=prompt):
            continue
        kwargs = by_id[cid].get("kwargs") or {}
        try:
            out = fn(text, kwargs, prompt)
        except (KeyError, TypeError, ValueError):  # a kwarg it needs is missing or odd: no edit
            out = None
        if out and out.strip() and out != text:
            text, done = out, done + [cid]
    return text, done


__all__ = ["EDITS", "edit_toward", "editable"]
