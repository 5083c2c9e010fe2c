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

from .errors import AdsError


class RecordError(AdsError, ValueError):
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


# ---- instructions and held-out items ---------------------------------------------------------

_TEXT_FIELDS = ("instruction", "Instruction", "question", "prompt", "turns")


def item_checks(row: dict) -> list[dict]:
    """A row's IFEval checks: ours (``checks``) or IFEval's own ``instruction_id_list`` + ``kwargs``."""
    if row.get("checks"):
        checks = row["checks"]
        return [checks] if isinstance(checks, dict) else list(checks)
    ids = row.get("instruction_id_list") or []
    kwargs = row.get("kwargs") or [{} for _ in ids]
    return [{"id": i, "kwargs": {k: v for k, v in (kw or {}).items() if v is not None}} for i, kw in zip(ids, kwargs)]


def read_items(path: str | Path, n: int | None = None) -> list[dict]:
    """The instructions of ``path`` as held-out items ``{"instruction", "answers"?, "checks"?}``, the
    first ``n`` of them: a task file's ``held_out`` (its own ``checks`` joined to each item's), or
    the rows of an instruction file (instruction / Instruction / question / prompt / Vicuna's
    turns; Alpaca's input, or a Self-Instruct task's first instance input, appended; answers and
    IFEval checks kept). The one reader of both; items are numbered from 0 in its errors."""
    path = Path(path)
    doc = read_document(path) if path.suffix.lower() in (".yaml", ".yml", ".json") else None
    if isinstance(doc, dict) and "held_out" in doc:
        rows, shared = doc["held_out"] or [], item_checks({"checks": doc.get("checks")}) if doc.get("checks") else []
    else:
        rows, shared = read_records(path), []
    items = []
    for i, row in enumerate(rows):
        row = {"instruction": row} if isinstance(row, str) else row
        if not isinstance(row, dict):
            raise RecordError(f"{path}: item {i}: expected an instruction string or an object")
        text = next((row[f] for f in _TEXT_FIELDS if row.get(f)), None)
        text = text[0] if isinstance(text, list) and text else text
        if not isinstance(text, str) or not text.strip():
            raise RecordError(f"{path}: item {i}: no instruction (expected a field {', '.join(_TEXT_FIELDS)})")
        given = row.get("input") or next((x.get("input") for x in row.get("instances") or [] if isinstance(x, dict)), "")
        item = {"instruction": f"{text.strip()}\n\n{str(given).strip()}" if str(given or "").strip() else text.strip()}
        answers = row.get("answers") if row.get("answers") is not None else row.get("answer")
        if answers not in (None, "", []) and "####" not in str(answers):
            item["answers"] = [str(a) for a in (answers if isinstance(answers, list) else [answers])]
        checks = item_checks(row) + [c for c in shared if c not in item_checks(row)]
        if checks:
            item["checks"] = checks
        items.append(item)
    return items[:n] if n is not None else items


# ---- reports ------------------------------------------------------------------------------------

def write_json(path: str | Path, data) -> Path:
    """Write ``data`` as JSON atomically (a crash never leaves half a file)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def write_report(folder: str | Path, stem: str, data: dict, markdown: str) -> Path:
    """The one report writer of every graph: ``<folder>/<stem>.json`` (the data) and
    ``<stem>.md`` (for people), each written atomically. Returns the JSON file's path."""
    folder = Path(folder)
    md = folder / f"{stem}.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    tmp = md.with_name(md.name + ".partial")
    tmp.write_text(markdown, encoding="utf-8")
    tmp.replace(md)
    return write_json(folder / f"{stem}.json", data)
