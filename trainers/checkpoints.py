"""Where a killed training resumes: TRL's own checkpoints, kept until the adapter is saved.

Every ``save_steps`` optimizer steps (a recipe key, ``--save-steps`` on ``train sft|dpo``) the
trainer writes ``out_dir/trainer/<pass>/checkpoint-<step>`` (adapter, optimizer, scheduler, RNG
and trainer state; ``save_total_limit`` keeps the last ones). A run started again in the same
``out_dir`` continues each pass from its last complete checkpoint (one whose
``trainer_state.json``, written last, exists), so a kill costs at most ``save_steps`` steps.
A pass that had finished resumes at its end and trains nothing.

Only the same training resumes: ``out_dir/trainer/run.json`` holds a fingerprint of the method,
base, recipe values and rows, and checkpoints of a different training in the same folder are
removed, never continued. When the adapter is saved the checkpoints go: they were only scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

SCRATCH = "trainer"


def fingerprint(method: str, base: str, recipe_values: dict, rows: list) -> str:
    body = {"method": method, "base": base, "recipe": recipe_values, "rows": rows}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def is_main_process() -> bool:
    """Rank 0 of a distributed launch (``accelerate launch`` / torchrun set ``RANK``), or a plain run."""
    return int(os.environ.get("RANK", "0")) == 0


class Checkpoints:
    """The checkpoints of one training in ``out_dir``: which passes resume where."""

    def __init__(self, out_dir: Path, key: str):
        self.root = Path(out_dir) / SCRATCH
        self.key = key
        try:
            saved = json.loads((self.root / "run.json").read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            saved = None
        # decided once, before any process writes: every rank of a launch decides the same
        self.same_run = saved == key
        self.stale = saved is not None and not self.same_run
        self.claimed = False

    def pass_dir(self, name: str) -> Path:
        return self.root / name

    def resume_from(self, name: str) -> Path | None:
        """The last complete checkpoint of pass ``name`` of this same training, else None."""
        if not self.same_run:
            return None
        return last_checkpoint(self.pass_dir(name))

    def claim(self) -> None:
        """Mark the folder as this training's (the main process only, after every rank decided):
        a different training's checkpoints are removed first."""
        self.claimed = True
        if not is_main_process():
            return
        if self.stale:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "run.json").write_text(json.dumps({"fingerprint": self.key}), encoding="utf-8")

    def clear(self) -> None:
        """The adapter is saved: the checkpoints are no longer needed."""
        if is_main_process():
            shutil.rmtree(self.root, ignore_errors=True)


def last_checkpoint(folder: Path) -> Path | None:
    """The highest ``checkpoint-N`` in ``folder`` whose trainer state was written (complete)."""
    steps = []
    for p in folder.glob("checkpoint-*") if folder.is_dir() else ():
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and (p / "trainer_state.json").is_file():
            steps.append((int(m.group(1)), p))
    return max(steps)[1] if steps else None


def checkpoint_step(path: Path | None) -> int | None:
    return int(path.name.split("-")[1]) if path is not None else None
