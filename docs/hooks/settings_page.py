"""mkdocs hook: docs/settings.md is generated from ``graph.context.Context`` at build time, so the
settings reference cannot drift from the code (every field: name, type, default, description)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_markdown() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from graph.context import Context

    lines = ["# Settings", "",
             "Every runtime setting is a field of `graph.context.Context`. Set any of them with "
             "`--set FIELD=VALUE` or `--config FILE` (YAML/JSON) on every graph command; "
             "`python cli.py settings` prints this list. This page is generated from the code.", "",
             "| setting | type | default | what it does |", "|---|---|---|---|"]
    for f in dataclasses.fields(Context):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ""
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        text = f.metadata.get("description", "")
        if f.metadata.get("choices"):
            text += f" Choices: {', '.join(map(str, f.metadata['choices']))}."
        cell = str(default).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{f.name}` | `{kind}` | `{cell}` | {text.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    from mkdocs.structure.files import File

    out = Path(config["site_dir"]).parent / ".settings-page"
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.md").write_text(settings_markdown(), encoding="utf-8")
    files.append(File("settings.md", str(out), config["site_dir"], config["use_directory_urls"]))
    return files
