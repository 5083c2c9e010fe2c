"""A small real refine on SmolLM2 (optimizer and policy), the real tools and the default corpus:
3 training tasks, K=2, one rejection-sampling and one DPO iteration, killed mid-way and resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graph.context import Context
from graph.runs import RunStore
from tests.fakes import refine_killed_at

pytestmark = pytest.mark.real
ROOT = Path(__file__).resolve().parents[1]


def task(name, observed, held):
    return {"task": name, "observed": [observed], "description": f"Facts about {name}.",
            "held_out": [{"instruction": q, "answers": a} for q, a in held]}


# held-out answers stated in the planets' Wikipedia leads in the default corpus (see tasks/planets.yaml)
TRAIN = [task("jupiter", "How big is Jupiter compared to Earth?", [
             ("How many years does Jupiter take to orbit the Sun?", ["11.86", "nearly 12"]),
             ("At what distance from the Sun, in astronomical units (AU), does Jupiter orbit?", ["5.20", "5.2"]),
             ("Counting from the Sun, which planet is Jupiter (first, second, ...)?", ["fifth", "5th"])]),
         task("mars", "What is the atmosphere of Mars made of?", [
             ("What is the mean diameter of Mars in kilometres?", ["6,779", "6779"]),
             ("Counting from the Sun, which planet is Mars (first, second, ...)?", ["fourth", "4th"]),
             ("What is the lowest atmospheric temperature on Mars, in degrees Celsius?", ["-153"])]),
         task("saturn", "How long does Saturn take to orbit the Sun?", [
             ("How many times more massive than Earth is Saturn?", ["95"]),
             ("At what distance from the Sun, in astronomical units (AU), does Saturn orbit?", ["9.59", "9.6"]),
             ("Counting from the Sun, which planet is Saturn (first, second, ...)?", ["sixth", "6th"])])]
VALIDATION = [task("outer planets", "Which planet is farthest from the Sun?", [
    ("How many times the mass of Earth is Neptune?", ["17"]),
    ("Counting from the Sun, which planet is Uranus (first, second, ...)?", ["seventh", "7th"])])]


def test_refine_writes_two_optimizer_adapters_and_resumes_without_rerunning(tmp_path, smollm, corpus, monkeypatch):
    recipes = {}
    for method in ("sft", "dpo"):  # the shipped recipes, one row per optimizer step: the test checks the loop, not the fit
        values = yaml.safe_load((ROOT / "recipes" / f"{method}_lora.yaml").read_text())
        values.update(per_device_train_batch_size=1, gradient_accumulation_steps=1)
        recipes[method] = tmp_path / f"{method}.yaml"
        recipes[method].write_text(yaml.safe_dump(values))
    ctx = Context.build(optimizer_sft_recipe=str(recipes["sft"]), optimizer_dpo_recipe=str(recipes["dpo"]), run_dir=str(tmp_path / "refine"), refine_samples=2, refine_iterations=1, refine_steps=2,
                        max_calls=2, max_cost=6, max_new_tokens=64, eval_max_new_tokens=24, demonstrations_per_call=1,
                        cache_path=str(tmp_path / "cache.sqlite"), memory_path=str(tmp_path / "memory"))
    ran, values = refine_killed_at(monkeypatch, 6, RunStore(tmp_path / "runs.sqlite"), ctx,
                                   {"train": TRAIN, "validation": VALIDATION})
    rep = values["refine_report"]

    assert ran.count(ran[5]) == 2 and all(ran.count(r) == 1 for r in ran if r != ran[5])  # only the killed one re-ran
    assert len(ran) == 2 * 3 * (2 + 3) + 1
    assert [r["method"] for r in rep["iterations"]] == ["rejection sampling", "dpo"]
    adapters = [r["adapter"] for r in rep["iterations"] if r["adapter"]]
    for adapter in adapters:
        assert (tmp_path / "refine").as_posix() in adapter and json.loads(
            (tmp_path / "refine" / adapter.split("/refine/")[1] / "adapter_config.json").read_text())["peft_type"] == "LORA"
    # an iteration trains where a pair carries a lesson: a reply with room to buy, or anticipations that differ
    assert len(adapters) == sum(bool(r["reply_rows"] or r["anticipation_rows"]) for r in rep["iterations"])
    for r in rep["iterations"]:
        assert r["validation_prompting"] and r["validation_refined"]
    report = (tmp_path / "refine" / "refine_report.md").read_text()
    assert "| 0 | rejection sampling |" in report and "| 1 | dpo |" in report
