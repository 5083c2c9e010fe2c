"""Curated rows -> TRL's own dataset formats, and reading them from JSONL.

SFT rows come out in two TRL formats:
  prompt/completion, conversational: {"prompt": [{"role": "user", ...}], "completion": [{"role": "assistant", ...}]}
      from demonstrations, QA pairs, memory entries, TRL prompt/completion rows and ``messages``
      rows (split before the last assistant turn), so the loss falls on the answer only;
  language modelling: {"text": ...} from retrieved documents (title, then text), loss on every token.
The two cannot share one ``datasets.Dataset``: its schema comes from the first row, so a
``text`` row after prompt/completion rows silently loses its text (checked with datasets 4 /
trl 1.16). ``split_formats`` therefore separates them and ``run_sft`` trains one pass per format
on the same adapter.

DPO rows are conversational prompt/chosen/rejected (TRL's explicit-prompt preference format).
Plain-string prompts and answers are read as one user and one assistant turn, because the policy
is always prompted through its chat template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from records import instruction_of, response_of
from records.errors import AdsError

PAIR_TYPES = ("demonstration", "qa", "memory")


class FormatError(AdsError, ValueError):
    """A row no trainer can read; the message names the row and the accepted shapes."""


SFT_SHAPES = ("curated rows with type demonstration/qa/memory (instruction, response) or document (text); "
              "TRL prompt/completion, messages or text rows")
DPO_SHAPES = "prompt/chosen/rejected rows (strings or chat messages), or chosen/rejected conversations"


def _turn(role: str, content) -> list[dict]:
    if isinstance(content, list):
        return content
    if not isinstance(content, str) or not content.strip():
        raise FormatError(f"empty or non-text {role} turn: {content!r:.80}")
    return [{"role": role, "content": content}]


def _check_messages(messages, what: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise FormatError(f"'{what}' must be a non-empty list of chat messages")
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise FormatError(f"'{what}' holds a message without string 'role' and 'content': {m!r:.80}")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def sft_row(row: dict) -> dict:
    """One curated or TRL row -> one TRL SFT row (conversational prompt/completion, or text)."""
    if not isinstance(row, dict):
        raise FormatError(f"a row must be a JSON object, got {type(row).__name__}")
    if "chosen" in row or "rejected" in row:
        raise FormatError("this is a preference row (chosen/rejected): train it with dpo, not sft")
    kind = row.get("type")
    if "prompt" in row and "completion" in row:
        return {"prompt": _check_messages(_turn("user", row["prompt"]), "prompt"),
                "completion": _check_messages(_turn("assistant", row["completion"]), "completion")}
    if "messages" in row:
        messages = _check_messages(row["messages"], "messages")
        if messages[-1]["role"] != "assistant" or len(messages) < 2:
            raise FormatError("a 'messages' row must end with an assistant turn after at least one other turn")
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    if kind == "document" or (kind is None and "text" in row):
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FormatError("a document row needs a non-empty 'text'")
        title = str(row.get("title") or "").strip()
        return {"text": f"{title}\n\n{text}" if title else text}
    if kind in PAIR_TYPES or kind is None:
        try:
            instruction, response = instruction_of(row), response_of(row)
        except KeyError as e:
            raise FormatError(f"{e.args[0]}; expected {SFT_SHAPES}") from None
        return {"prompt": _turn("user", instruction), "completion": _turn("assistant", response)}
    raise FormatError(f"unknown row type {kind!r}; expected {SFT_SHAPES}")


def dpo_row(row: dict) -> dict:
    """One preference row -> TRL's conversational prompt/chosen/rejected."""
    if not isinstance(row, dict):
        raise FormatError(f"a row must be a JSON object, got {type(row).__name__}")
    if "chosen" not in row or "rejected" not in row:
        raise FormatError(f"missing 'chosen' or 'rejected'; expected {DPO_SHAPES}")
    prompt = row.get("prompt", row.get("instruction"))
    if prompt is None:  # implicit prompt: two conversations that differ in the last turn only
        chosen = _check_messages(row["chosen"], "chosen")
        rejected = _check_messages(row["rejected"], "rejected")
        if len(chosen) < 2 or chosen[:-1] != rejected[:-1]:
            raise FormatError("without a 'prompt', chosen and rejected must be conversations that share all but the last turn")
        return {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}
    out = {"prompt": _check_messages(_turn("user", prompt), "prompt"),
           "chosen": _check_messages(_turn("assistant", row["chosen"]), "chosen"),
           "rejected": _check_messages(_turn("assistant", row["rejected"]), "rejected")}
    if out["chosen"] == out["rejected"]:
        raise FormatError("chosen and rejected are identical: the pair teaches nothing")
    return out


def _convert(rows: Iterable[dict], one) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(one(row))
        except FormatError as e:
            raise FormatError(f"row {i}: {e}") from None
    return out


def to_sft_rows(curated_rows: Iterable[dict]) -> list[dict]:
    """Curated rows (any mix) -> TRL SFT rows, in order."""
    return _convert(curated_rows, sft_row)


def to_dpo_rows(rows: Iterable[dict]) -> list[dict]:
    return _convert(rows, dpo_row)


def split_formats(trl_rows: Sequence[dict]) -> dict[str, list[dict]]:
    """TRL SFT rows -> {"language_modeling": text rows, "prompt_completion": pairs}, non-empty only,
    documents first (knowledge, then how to answer with it)."""
    lm = [r for r in trl_rows if "text" in r]
    pc = [r for r in trl_rows if "prompt" in r]
    return {name: part for name, part in (("language_modeling", lm), ("prompt_completion", pc)) if part}


def read_rows(path: str | Path, method: str = "sft") -> list[dict]:
    """Read a JSONL file of curated or TRL rows as ``method`` ("sft" | "dpo") rows.

    Blank lines are skipped; anything else unreadable raises FormatError naming ``path:line``."""
    from records import RecordError, numbered_jsonl

    one = {"sft": sft_row, "dpo": dpo_row}[method]
    path = Path(path)
    try:
        numbered = numbered_jsonl(path, objects=False)
    except RecordError as e:
        raise FormatError(str(e)) from None
    rows = []
    for lineno, row in numbered:
        try:
            rows.append(one(row))
        except FormatError as e:
            raise FormatError(f"{path}: line {lineno}: {e}") from None
    if not rows:
        raise FormatError(f"{path}: no rows; expected {SFT_SHAPES if method == 'sft' else DPO_SHAPES}, one JSON object a line")
    return rows
