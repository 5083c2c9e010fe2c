"""IFEval's prompts as rows that say what a good answer is.

``read_ifeval(path)`` reads IFEval's ``input_data.jsonl`` (google-research's file, or the
``google/IFEval`` dataset's rows: ``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) into
``{"instruction": prompt, "checks": [{"id", "kwargs"}, ...], "key": key}``, the ``checks`` shape
task files and held-out items carry. Kwargs set to None are dropped, as lm-eval does before it
builds an instruction (the dataset fills every instruction's unused kwargs with None).

Only the file's shape is checked here, each failure a ``RecordError`` naming ``path: line N``:
records/ is the bottom layer, so whether an id and its kwargs are ones lm-eval can run is
``scoring.verify.validate_checks``'s question.
"""

from __future__ import annotations

from pathlib import Path

from . import RecordError, item_checks, numbered_jsonl

_SHAPE = "an IFEval row is {\"key\", \"prompt\", \"instruction_id_list\": [ids], \"kwargs\": [one object per id]}"


def read_ifeval(path: str | Path) -> list[dict]:
    """IFEval's ``input_data.jsonl`` as ``[{"instruction", "checks", "key"}]``, in file order."""
    path = Path(path)
    rows, seen = [], {}
    for n, row in numbered_jsonl(path):
        at = f"{path}: line {n}"
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RecordError(f"{at}: no prompt (a non-empty string); {_SHAPE}")
        ids = row.get("instruction_id_list")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
            raise RecordError(f"{at}: instruction_id_list must be a non-empty list of instruction ids, "
                              f"got {ids!r:.80}; {_SHAPE}")
        kwargs = row.get("kwargs")
        kwargs = [{} for _ in ids] if kwargs is None else kwargs
        if not isinstance(kwargs, list) or len(kwargs) != len(ids):
            got = f"{len(kwargs)} kwargs" if isinstance(kwargs, list) else f"kwargs of type {type(kwargs).__name__}"
            raise RecordError(f"{at}: {len(ids)} instruction ids but {got}; {_SHAPE}")
        for i, kw in enumerate(kwargs):
            if kw is not None and not isinstance(kw, dict):
                raise RecordError(f"{at}: kwargs[{i}] (for {ids[i]}) must be an object, got {type(kw).__name__}")
        key = row.get("key")
        if key is not None:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise RecordError(f"{at}: key must be a number or a string, got {key!r:.80}")
            if key in seen:
                raise RecordError(f"{at}: key {key!r} already used on line {seen[key]}")
            seen[key] = n
        checks = item_checks({"instruction_id_list": ids, "kwargs": kwargs})
        rows.append({"instruction": prompt, "checks": checks, "key": key})
    if not rows:
        raise RecordError(f"{path}: holds no rows; {_SHAPE}, one a line")
    return rows


__all__ = ["read_ifeval"]
