"""Target-task files: what the optimizer observes and what the policy is tested on.

A task file is JSON or YAML, either a mapping::

    name: planets
    observed: ["instruction", {"instruction": ..., "checks": [...]}, ...]
    held_out: ["instruction", {"instruction": ..., "answers": [...], "checks": [...]}, ...]
    checks: [{"id": "change_case:english_lowercase"}]   # optional: applies to every instruction

``checks`` are IFEval checks (``{"id", "kwargs"}``, lm-eval's instruction ids), each validated
against lm-eval's registry when the file is read; the task's own ``checks`` join every observed and
held-out instruction's. The task comes back with ``checks`` and ``observed_checks`` (instruction ->
its checks) where it has any. Or a plain list of instructions (or held-out objects), split with ``--observed N`` by a seeded
shuffle. A bad file raises TaskError naming the file, the line (or item) and the field.
"""

from __future__ import annotations

import random
from pathlib import Path

from records.errors import AdsError

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
DEFAULT_TASK = TASKS_DIR / "planets.yaml"
MAX_HELD_OUT = 20


class TaskError(AdsError, ValueError):
    """A task file cannot be used; the message names the place and what to fix."""


def _load_text(path: Path):
    from records import RecordError, read_document, read_jsonl

    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return read_document(path), _yaml_lines(path.read_text(encoding="utf-8"))
        if path.suffix.lower() == ".json":
            return read_document(path), {}
        if path.suffix.lower() == ".jsonl":
            return read_jsonl(path, objects=False), {}
    except RecordError as e:
        raise TaskError(str(e)) from None
    raise TaskError(f"{path}: unknown task file type {path.suffix!r}; use .yaml, .json or .jsonl")


def _yaml_lines(text: str) -> dict:
    """Line number of each sequence item under observed/held_out, for error messages."""
    import yaml

    lines: dict = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(value, yaml.SequenceNode):
                for i, item in enumerate(value.value):
                    lines[(key.value, i)] = item.start_mark.line + 1
    elif isinstance(root, yaml.SequenceNode):
        for i, item in enumerate(root.value):
            lines[(None, i)] = item.start_mark.line + 1
    return lines


def _checks(value, where: str) -> list[dict]:
    """IFEval check objects, each id and its kwargs validated against lm-eval's registry."""
    from scoring.verify import CheckError, validate_checks

    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise TaskError(f"{where}: field 'checks' must be a non-empty list of {{id, kwargs}} objects")
    try:
        return validate_checks(value, where=where)
    except CheckError as e:
        raise TaskError(str(e)) from None
    except ImportError as e:
        raise TaskError(f"{where}: checks need lm-eval's IFEval checkers ({e}); bash scripts/setup.sh installs them") from None


def _with(checks: list[dict], more: list[dict]) -> list[dict]:
    out = list(checks)
    for c in more:
        if c not in out:
            out.append(c)
    return out


def _item(value, where: str) -> dict:
    if isinstance(value, str):
        if not value.strip():
            raise TaskError(f"{where}: empty instruction")
        return {"instruction": value.strip()}
    if not isinstance(value, dict):
        raise TaskError(f"{where}: expected an instruction string or a mapping with 'instruction', got {type(value).__name__}")
    text = value.get("instruction")
    if not isinstance(text, str) or not text.strip():
        raise TaskError(f"{where}: field 'instruction' is missing or empty")
    item = {"instruction": text.strip()}
    for key in ("answers", "checks"):
        if key in value:
            v = value[key]
            if isinstance(v, (str, int, float)) or (key == "checks" and isinstance(v, dict)):
                v = [v]
            if not isinstance(v, list) or not v:
                raise TaskError(f"{where}: field '{key}' must be a non-empty list")
            item[key] = [str(a) for a in v] if key == "answers" else _checks(v, where)
    unknown = set(value) - {"instruction", "answers", "checks", "id", "category"}
    if unknown:
        raise TaskError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: instruction, answers, checks, id, category")
    return item


def load_task(path: str | Path | None = None, *, observed: int | None = None, seed: int = 0,
              max_held_out: int = MAX_HELD_OUT) -> dict:
    """The task as the graph's input: ``{"task", "observed": [str], "held_out": [dict]}``."""
    path = Path(path) if path else DEFAULT_TASK
    if not path.exists():
        raise TaskError(f"{path}: no such task file (examples: {', '.join(p.name for p in sorted(TASKS_DIR.glob('*.*')))})")
    data, lines = _load_text(path)

    def where(field: str | None, i: int) -> str:
        line = lines.get((field, i))
        return f"{path}: " + (f"line {line}: " if line else "") + (f"{field}[{i}]" if field else f"item {i}")

    if isinstance(data, list):
        items = [_item(v, where(None, i)) for i, v in enumerate(data)]
        if len(items) < 2:
            raise TaskError(f"{path}: a plain list needs at least 2 instructions (some observed, the rest held out); "
                            f"it holds {len(items)}")
        n = observed if observed is not None else min(3, len(items) - 1)
        if not 0 < n < len(items):
            raise TaskError(f"{path}: a plain list of {len(items)} items needs --observed N with 0 < N < {len(items)}")
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        obs = [items[i]["instruction"] for i in order[:n]]
        held = [items[i] for i in order[n:]]
        name = path.stem
    elif isinstance(data, dict):
        for key in ("observed", "held_out"):
            if not isinstance(data.get(key), list) or not data[key]:
                raise TaskError(f"{path}: field '{key}' must be a non-empty list")
        unknown = set(data) - {"name", "description", "category", "observed", "held_out", "checks"}
        if unknown:
            raise TaskError(f"{path}: unknown top-level field(s) {sorted(unknown)}; "
                            "allowed: name, description, category, observed, held_out, checks")
        task_checks = _checks(data["checks"], f"{path}: checks") if "checks" in data else []
        observed_items = [_item(v, where("observed", i)) for i, v in enumerate(data["observed"])]
        obs = [it["instruction"] for it in observed_items]
        observed_checks = {it["instruction"]: _with(it.get("checks") or [], task_checks)
                           for it in observed_items if it.get("checks") or task_checks}
        held = [_item(v, where("held_out", i)) for i, v in enumerate(data["held_out"])]
        if task_checks:  # the task's checks apply to every one of its instructions
            held = [{**h, "checks": _with(h.get("checks") or [], task_checks)} for h in held]
        if observed is not None:
            obs = obs[:observed]
        name = str(data.get("name") or path.stem)
    else:
        raise TaskError(f"{path}: expected a mapping (name, observed, held_out) or a list of instructions")
    overlap = {o.lower() for o in obs} & {h["instruction"].lower() for h in held}
    if overlap:
        raise TaskError(f"{path}: held-out instruction(s) also observed: {sorted(overlap)[:3]}")
    task = {"task": name, "observed": obs, "held_out": held[:max_held_out]}
    if isinstance(data, dict):
        for key in ("description", "category"):
            if data.get(key):
                task[key] = str(data[key])
        if task_checks:
            task["checks"] = task_checks
        if observed_checks:
            task["observed_checks"] = {o: c for o, c in observed_checks.items() if o in obs}
    return task


def load_tasks(path: str | Path, *, split: str | None = None, seed: int = 0, max_held_out: int = MAX_HELD_OUT) -> list[dict]:
    """Every task under ``path``: a task file, a folder of them, or a folder that ``tasks build``
    wrote (``train/``, ``validation/``, ``test/``: ``split`` picks one, default test)."""
    path = Path(path)
    if path.is_file():
        return [load_task(path, seed=seed, max_held_out=max_held_out)]
    if not path.is_dir():
        raise TaskError(f"{path}: no such task file or folder (build tasks with: python cli.py tasks build)")
    splits = [d.name for d in path.iterdir() if d.is_dir() and d.name in ("train", "validation", "test")]
    if splits:
        split = split or "test"
        if split not in splits:
            raise TaskError(f"{path} has no '{split}' split; it has: {', '.join(sorted(splits))}")
        path = path / split
    elif split:
        raise TaskError(f"{path} has no train/validation/test folders, so --split {split} means nothing there")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json", ".jsonl"))
    if not files:
        raise TaskError(f"{path}: no task files (.yaml/.json) in it")
    return [load_task(f, seed=seed, max_held_out=max_held_out) for f in files]
