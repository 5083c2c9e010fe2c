"""Reading and writing data files, and reading a pair out of a data row: the one place for both.

``read_records(path)`` reads JSONL (one object a line), a JSON list or mapping, or YAML, and
every failure is a ``RecordError`` naming ``path:line`` and what to fix: the task loader, the
scorers' CLI, the trainers, the memory bank and the task builder all read files through it, each
keeping its own row validation.

``instruction_of(row)`` / ``response_of(row)`` read an (instruction, response) pair from the
shapes the tools write (``instruction``/``response``) and public datasets use (Alpaca's
``instruction``/``input``/``output``, GSM8K's and NQ-open's ``question``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable


class RecordError(ValueError):
    """A data file cannot be read; the message names the file, the line and the fix."""


def _text(path: Path) -> str:
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise RecordError(f"{path}: line {line}: not UTF-8 text (byte {e.object[e.start]:#x}); "
                          "save the file as UTF-8") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror or e})") from None


def read_jsonl(path: str | Path, *, objects: bool = True) -> list:
    """Rows of a JSONL file; blank lines are skipped. ``objects``: every row must be a JSON object."""
    return [row for _, row in numbered_jsonl(path, objects=objects)]


def numbered_jsonl(path: str | Path, *, objects: bool = True) -> list[tuple[int, object]]:
    """(line number, row) of each row of a JSONL file, so a caller's own checks can name the line."""
    path = Path(path)
    rows = []
    for n, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: line {n}: not valid JSON ({e.msg} at column {e.colno}); "
                              "a JSONL file holds one JSON object a line") from None
        if objects and not isinstance(row, dict):
            raise RecordError(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append((n, row))
    return rows


def read_document(path: str | Path):
    """A whole JSON or YAML document (a mapping or a list), parsed."""
    path = Path(path)
    text = _text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "somewhere"
            raise RecordError(f"{path}: {where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def read_records(path: str | Path, *, allow_empty: bool = False) -> list[dict]:
    """Objects from a ``.jsonl`` file, or a JSON/YAML list of objects (a mapping's values also count)."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        rows = read_jsonl(path)
    else:
        data = read_document(path)
        if isinstance(data, dict):
            data = list(data.values())
        if not isinstance(data, list):
            raise RecordError(f"{path}: expected a list of objects, got {type(data).__name__}")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise RecordError(f"{path}: item {i}: expected an object, got {type(row).__name__}")
        rows = data
    if not rows and not allow_empty:
        raise RecordError(f"{path}: holds no rows; give one JSON object a line (JSONL) or a JSON list of objects")
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write rows as JSONL (UTF-8, one object a line), creating the folder; the whole file is
    written to a temporary name first, so a crash never leaves half a file under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)
    return path


# ---- (instruction, response) pairs ----------------------------------------------------------

def _field(row: dict, *keys: str) -> str:
    for key in keys:
        if row.get(key) is not None:
            return str(row[key])
    raise KeyError(f"row has no {' (or '.join(repr(k) for k in keys)}{')' * (len(keys) - 1)} field")


def instruction_of(row: dict) -> str:
    """The full instruction: ``instruction`` (or ``question``), plus Alpaca's ``input`` if any."""
    text = _field(row, "instruction", "question")
    extra = row.get("input") or ""
    return f"{text}\n\n{extra}" if str(extra).strip() else text


def response_of(row: dict) -> str:
    """The response text: ``response`` (or Alpaca's ``output``)."""
    return _field(row, "response", "output")


def has_pair(row: dict) -> bool:
    """Whether the row holds a non-empty instruction and response."""
    try:
        return bool(instruction_of(row).strip() and response_of(row).strip())
    except KeyError:
        return False


__all__ = ["RecordError", "read_jsonl", "numbered_jsonl", "read_document", "read_records", "write_jsonl",
           "instruction_of", "response_of", "has_pair"]
