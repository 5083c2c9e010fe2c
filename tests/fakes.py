"""A scripted model for tests: it answers from a queue (or a function) and records every prompt.

Registered as the ``fake`` backend, so code under test builds it through ``llms.load("fake:NAME")``
exactly as it would build a real model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from llms.base import LLM, Generation, SamplingParams, as_messages


@dataclass
class ScriptedLLM(LLM):
    replies: deque = field(default_factory=deque)
    respond: Callable[[list[dict]], str] | None = None  # used when the queue is empty
    history: list = field(default_factory=list)  # every prompt seen, as messages
    params: list = field(default_factory=list)  # the SamplingParams of every prompt seen
    logprob_fn: Callable[[str, str], list[float]] | None = None

    def script(self, *replies: str) -> "ScriptedLLM":
        self.replies.extend(replies)
        return self

    def generate(self, prompts, params=None, *, batch_size: int = 8):
        params = params or SamplingParams()
        out = []
        for p in prompts:
            msgs = as_messages(p)
            self.history.append(msgs)
            self.params.append(params)
            samples = []
            for _ in range(params.n):
                if self.replies:
                    text = self.replies.popleft()
                elif self.respond is not None:
                    text = self.respond(msgs)
                else:
                    raise AssertionError(f"ScriptedLLM {self.spec}: no scripted reply left for {msgs[-1]['content'][:80]!r}")
                samples.append(Generation(text=text, prompt_tokens=sum(len(m["content"]) // 4 for m in msgs),
                                          completion_tokens=max(1, len(text) // 4)))
            out.append(samples)
        return out

    def logprobs(self, contexts, continuations, *, batch_size: int = 8):
        if self.logprob_fn is None:
            return super().logprobs(contexts, continuations)
        return [self.logprob_fn(c, r) for c, r in zip(contexts, continuations)]

    def render(self, prompt, *, add_generation_prompt: bool = True) -> str:
        text = "".join(f"<{m['role']}>{m['content']}\n" for m in as_messages(prompt))
        return text + ("<assistant>" if add_generation_prompt else "")

    @property
    def calls(self) -> int:
        return len(self.history)


# ---- a small task, a plan for it, and a counting fake of the tool layer ------------------------

# Settings under which a scripted optimizer's own reply is its whole plan: it anticipates no
# questions and the retrieval rule's calls are not added on a knowledge task (tests/test_graph_plan.py
# tests those), and the gathered rows go through the judge (curation dedupe,judge, the default these
# tests were written for). Tests of the plan's mechanics (parsing, budget, step mode, resume, the
# judge's scores) use these.
SCRIPTED_PLAN = {"anticipate": 0, "plan_observed": False, "curation": ["dedupe", "judge"]}
SCRIPTED_PLAN_ARGS = ["--set", "anticipate=0", "--set", "plan_observed=false", "--set", "curation=dedupe,judge"]

PLAN = ('Zorbia and Quxland facts are missing.\n<api_calls><api>information_retrieval("Zorbia")</api>'
        '<api>retrieve_information("Quxland")</api><api>demonstration_generation("capital questions")</api></api_calls>')
FACTS = {"Zorbia": "Zorbia is a country whose capital is Quxton.",
         "Quxland": "Quxland is an island whose capital is Velmar."}
TASK = {
    "task": "capitals",
    "observed": ["What is the capital of Zorbia?", "Name the capital of Quxland."],
    "held_out": [{"instruction": "Which city is Zorbia's capital?", "answers": ["Quxton"]},
                 {"instruction": "Quxland's capital city is called what?", "answers": ["Velmar"]},
                 {"instruction": "What is the capital of Narnia?", "answers": ["Cair Paravel"]}],
}


class FakeTools:
    """Stands in for ``tools.call_tool``: documents for known topics, demonstrations otherwise; it
    returns the real ``ToolResult`` and counts every call."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[tuple[str, str]] = []
        self.retrieval_k: list[int | None] = []  # Context.retrieval_k each information_retrieval call ran with
        self.fail_on = fail_on

    def __call__(self, name, arg, ctx):
        from tools.base import ToolResult

        self.calls.append((name, arg))
        if name == "information_retrieval":
            self.retrieval_k.append(ctx.retrieval_k)
        if arg == self.fail_on:
            raise RuntimeError("index offline")
        prov = {"tool": name, "arg": arg}
        if name == "information_retrieval":
            text = FACTS.get(arg, f"Nothing is known about {arg}.")
            rows = [{"type": "document", "text": text, "title": arg, "score": 1.0, "source": name, "provenance": prov}]
        else:
            rows = [{"type": "demonstration", "instruction": f"Question about {arg}?", "response": f"An answer about {arg}.",
                     "source": name, "provenance": prov}]
        return ToolResult(tool=name, arg=arg, cost=ctx.costs[name], rows=rows, provenance=prov, latency_s=0.01)


def answer(messages):
    """The fake policy knows a capital only when a passage in its prompt names it."""
    text = "\n".join(m["content"] for m in messages)
    for item in TASK["held_out"]:
        if item["instruction"] in text:
            context = text.replace(item["instruction"], "")
            for place, capital in (("Zorbia", "Quxton"), ("Quxland", "Velmar")):
                if place in item["instruction"] and capital in context:
                    return f"The capital of {place} is {capital}."
    return "I am not sure."


def kill_then_resume(script: str, tmp_path, kill_env: dict[str, str], run) -> dict:
    """Run ``script`` (``python run.py <repo root> <tmp_path>``) with ``kill_env`` set, which makes it
    kill itself with ``os._exit(9)``; run it again without, to resume (``run``: the ``spawn`` fixture's
    ``run``, so the test is in the slow tier). Returns the resumed run's last stdout line as JSON
    (the scripts print the report)."""
    import json
    import os
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    path = tmp_path / "run.py"
    path.write_text(script)
    env = {**os.environ, **kill_env}
    killed = run([sys.executable, str(path), root, str(tmp_path)], env=env, capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr[-3000:]
    env = {k: v for k, v in env.items() if k not in kill_env}
    resumed = run([sys.executable, str(path), root, str(tmp_path)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return json.loads(resumed.stdout.strip().splitlines()[-1])


def refine_killed_at(monkeypatch, n: int, store, ctx, inputs: dict) -> tuple[list, dict]:
    """A refine run killed (KeyboardInterrupt) as its ``n``-th trajectory starts, then resumed.
    Returns (every trajectory started, as (iteration, task, kind), in order; the resumed values)."""
    import pytest

    import graph.refine.steps as steps
    from graph.runs import config_for, drive

    ran, real = [], steps.run_trajectory

    def counted(ctx, job, task, iteration, optimizer):
        ran.append((iteration, task["task"], job["kind"]))
        if len(ran) == n:
            raise KeyboardInterrupt(f"killed in trajectory {n}")
        return real(ctx, job, task, iteration, optimizer)

    monkeypatch.setattr(steps, "run_trajectory", counted)
    thread = store.new_thread("refine", ctx)
    with pytest.raises(KeyboardInterrupt):
        drive(store.app("refine"), inputs, config_for("refine", thread, ctx, inputs), ctx)
    return ran, store.resume(thread)


def evaluate_killed_at(monkeypatch, n: int, store, ctx, inputs: dict) -> tuple[list, dict]:
    """An evaluation killed (KeyboardInterrupt) as its ``n``-th cell starts, then resumed from a new
    ``type(store)(store.path)`` (a new connection, as a new process would open). Returns (the key of
    every cell started, in order; the resumed values)."""
    import pytest

    import graph.evaluate.graph as ev
    from graph.runs import config_for, drive

    ran, real = [], ev.run_cell

    def counted(ctx, c, task, original):
        ran.append(c["key"])
        if len(ran) == n:
            raise KeyboardInterrupt(f"killed in cell {n}")
        return real(ctx, c, task, original)

    monkeypatch.setattr(ev, "run_cell", counted)
    thread = store.new_thread("evaluate", ctx)
    with pytest.raises(KeyboardInterrupt):
        drive(store.app("evaluate"), inputs, config_for("evaluate", thread, ctx, inputs), ctx)
    store.close()
    return ran, type(store)(store.db.location).resume(thread)



def bench_script(name: str):
    """bench/<name>.py as a module; the bench folder it puts on sys.path is taken off again (its
    scoring.py would otherwise shadow the scoring package for the tests that import it later)."""
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).parents[1] / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module
