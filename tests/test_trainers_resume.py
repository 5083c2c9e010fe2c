"""A training killed after a checkpoint resumes from it (TRL's own checkpoints, trainers/checkpoints.py):
the real SmolLM2, a few steps of LoRA SFT and DPO, killed right after a save, run again."""

from __future__ import annotations

import json

import pytest

from trainers.checkpoints import Checkpoints, fingerprint, last_checkpoint

QA = [("What is the capital of France?", "Paris is the capital of France."), ("Name a primary colour.", "Red is one."),
      ("What is 2+2?", "2+2 is 4."), ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
      ("What colour is the sky?", "The sky is blue."), ("What is water made of?", "Hydrogen and oxygen."),
      ("How many legs has a spider?", "A spider has eight legs."), ("What is the largest planet?", "Jupiter.")]

# Runs `train METHOD` through the CLI; with KILL_AFTER_SAVE=N the process dies (no cleanup) right
# after the checkpoint of step N is written, as a preempted or OOM-killed job would.
SCRIPT = r'''
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import trainers.lora as lora

real, kill_at = lora.step_timer, os.environ.get("KILL_AFTER_SAVE")

def killing_timer():
    timer = real()
    def on_save(args, state, control, **kw):
        if kill_at and state.global_step == int(kill_at):
            os._exit(9)
    timer.on_save = on_save
    return timer

lora.step_timer = killing_timer
from cli import main
tmp = Path(sys.argv[2])
method = os.environ["METHOD"]
main(["train", method, "--data", str(tmp / "rows.jsonl"), "--out", str(tmp / "out"), "--steps", "6",
      "--save-steps", "2", "--batch-size", "1", "--max-length", "64"], standalone_mode=False)
log = json.loads((tmp / "out" / "train_log.json").read_text())
print(json.dumps([{k: v for k, v in p.items() if k != "history"} for p in log["passes"]]))
'''


def rows(method: str) -> list[dict]:
    if method == "sft":
        return [{"type": "qa", "instruction": q, "response": a} for q, a in QA]
    return [{"prompt": q, "chosen": a, "rejected": "I do not know."} for q, a in QA]


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_a_training_killed_after_a_save_resumes_from_that_step(method, tmp_path, spawn, monkeypatch):
    import os
    import sys
    from pathlib import Path

    from tests.fakes import kill_then_resume

    monkeypatch.setenv("METHOD", method)
    monkeypatch.setenv("ADS_THREADS", "1")  # threads that follow the machine would change the sums' order
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(method)))
    resumed = kill_then_resume(SCRIPT, tmp_path, {"KILL_AFTER_SAVE": "4"}, spawn.run)
    # the same training, never killed, in another folder: the resumed one must match it step for step
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "rows.jsonl").write_text((tmp_path / "rows.jsonl").read_text())
    root = str(Path(__file__).resolve().parents[1])
    out = spawn.run([sys.executable, str(tmp_path / "run.py"), root, str(whole)], capture_output=True, text=True,
                    env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    uninterrupted = json.loads(out.stdout.strip().splitlines()[-1])[0]
    (run,) = resumed
    assert (run["resumed_from"], run["first_step"], run["steps"]) == (4, 5, 6)
    assert len(run["step_seconds"]) == 2  # this process ran steps 5 and 6 only
    assert (uninterrupted["resumed_from"], uninterrupted["first_step"]) == (None, 1)
    # steps 1-4 come back from the checkpoint's trainer state; 5-6 continue from its weights and RNG
    assert run["losses"] == pytest.approx(uninterrupted["losses"], rel=1e-4)
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "out" / "trainer").exists()  # the checkpoints go once the adapter is saved


def _checkpoint(folder, step: int, complete: bool = True):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_only_complete_checkpoints_of_the_same_training_are_resumed(tmp_path):
    key = fingerprint("sft", "local:m", {"save_steps": 2}, rows("sft"))
    ck = Checkpoints(tmp_path, key)
    ck.claim()
    done = _checkpoint(ck.pass_dir("prompt_completion"), 4)
    _checkpoint(ck.pass_dir("prompt_completion"), 6, complete=False)  # killed while it was being written
    assert last_checkpoint(ck.pass_dir("prompt_completion")) == done
    assert Checkpoints(tmp_path, key).resume_from("prompt_completion") == done
    assert Checkpoints(tmp_path, key).resume_from("language_modeling") is None
    # other rows (or another recipe, base or method) in the same folder: a different training
    other = Checkpoints(tmp_path, fingerprint("sft", "local:m", {"save_steps": 2}, rows("sft")[:3]))
    assert other.stale and other.resume_from("prompt_completion") is None
    other.claim()
    assert not done.exists() and Checkpoints(tmp_path, other.key).same_run
