"""What one refine iteration does to a task: run its trajectories, reward them, pick a pair.

A trajectory is one improve run with its held-out measurement turned off (``measure=false``):
the optimizer's prompt and reply, the questions it anticipated (``anticipated_by``), the data its
calls bought, the ICL (or SFT) update of the policy. Each is its own checkpointed thread in
``<run_dir>/trajectories.sqlite`` (or the database of ``checkpoint_uri``), so a killed refine
resumes inside the trajectory it was in and never pays for a finished call again.

Rewards come per task: every trajectory's updated policy answers the task's held-out instructions
in shared batches (``graph.heldout.measure_many``), against the original answers computed once;
S(A) is the verified accuracy gain where items carry answers, else the adjusted win rate minus 0.5.
Rewards are cached by (task, curated-data hash, policy, evaluation settings) in
``<run_dir>/rewards.sqlite``: two trajectories that bought the same data are evaluated once.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from graph.context import Context

# The three default trajectories of Algorithm 1: (name, API, argument source, the reply's analysis)
DEFAULTS = (
    ("default:retrieval", "information_retrieval", "observed",
     "The policy lacks facts these instructions need: one search for each of them."),
    ("default:qa", "question_answering", "observed",
     "The policy answers these questions badly: a stronger model answers each of them."),
    ("default:demonstrations", "demonstration_generation", "topic",
     "The policy needs examples of this kind of instruction."),
)


def default_plan(kind: str, task: dict) -> list[dict]:
    _, api, source, _ = next(d for d in DEFAULTS if d[0] == kind)
    if source == "observed":
        return [{"name": api, "arg": o} for o in task["observed"]]
    topic = task.get("description") or task["observed"][0]
    return [{"name": api, "arg": " ".join(topic.split()[:12])}]


def plan_reply(kind: str, plan: list[dict]) -> str:
    """The optimizer's reply that would have made ``plan`` (what rejection sampling and DPO learn)."""
    analysis = next(d[3] for d in DEFAULTS if d[0] == kind)
    calls = "".join(f'<api>{c["name"]}("{c["arg"]}")</api>' for c in plan)
    return f"{analysis}\n<api_calls>{calls}</api_calls>"


def jobs_for(ctx: Context, tasks: list[dict]) -> list[dict]:
    """Every trajectory of an iteration: ``refine_samples`` sampled ones and the defaults, per task.
    With ``refine_pairs=controlled`` only the defaults a pair can be drawn from: the one that is the
    optimizer's own plan anticipating nothing (on a knowledge task the retrieval rule's); the
    others would be gathered and rewarded for nothing."""
    from graph.optimizer import plan_calls, task_kind

    def pairable(kind: str, task: dict) -> bool:
        if ctx.refine_pairs != "controlled":
            return True
        own = plan_calls(ctx, task["observed"], [], [], task_kind(task))
        return bool(own) and [(c["name"], c["arg"]) for c in default_plan(kind, task)] == own

    return [{"task": t["task"], "kind": f"sample:{k}", "k": k} for t in tasks for k in range(ctx.refine_samples)] + \
        [{"task": t["task"], "kind": kind, "k": None} for t in tasks for kind, *_ in DEFAULTS if pairable(kind, t)]


def run_trajectory(ctx: Context, job: dict, task: dict, iteration: int, optimizer: str) -> dict:
    """One trajectory as an improve run (no measurement); its prompt, reply, data, cost."""
    from graph.optimizer import anticipation_prompt, optimizer_messages, reply_has_room
    from graph.runs import TASK_INPUTS, UnitRuns

    seed = ctx.seed + 1000 * iteration + (job["k"] or 0)
    run_dir = Path(ctx.run_dir) / f"iter{iteration}" / _slug(task["task"]) / _slug(job["kind"])
    cell = ctx.variant(optimizer=optimizer, optimizer_temperature=ctx.refine_temperature, seed=seed,
                       run_dir=str(run_dir), measure=False, step=False)
    inputs = {k: task[k] for k in TASK_INPUTS if k in task}  # checks too: a trajectory is the user's run
    plan = None if job["k"] is not None else default_plan(job["kind"], task)
    if plan is not None:
        inputs["plan"] = plan
    thread = f"iter{iteration}|{task['task']}|{job['kind']}"
    t0 = time.perf_counter()
    values = UnitRuns(ctx, "trajectories").finish("improve", thread, inputs, cell)
    rep = values["report"]
    reply = plan_reply(job["kind"], plan) if plan is not None else values["optimizer_replies"][-1]["text"]
    return {"task": task["task"], "kind": job["kind"], "iteration": iteration, "thread": thread,
            # the chat the run asked (its checks, its prices; a run checkpointed before it was kept: rendered again)
            "messages": values.get("optimizer_chat") or optimizer_messages(cell, task.get("description"), task["observed"]),
            "reply": reply,
            "anticipation_prompt": anticipation_prompt(cell, values), "anticipated": anticipated_by(cell, values, plan),
            # whether a sampled reply could buy anything (else its reward is the anticipation's: not trained)
            "reply_decides": reply_has_room(cell, values) if plan is None else True,
            "parsed": rep["parse_gave_up"] is None, "cost": rep["cost_total"], "api_calls": rep["api_calls"],
            "dataset_size": rep["dataset_size"], "updated": values["updated"], "seconds": round(time.perf_counter() - t0, 2),
            "timings": rep.get("timings") or {}}  # by node: where a trajectory's time goes (bench/refine.py)


def anticipated_by(ctx: Context, values: dict, plan: list[dict] | None) -> list[str] | None:
    """What a trajectory anticipated, as something refine can compare: a sampled trajectory's
    questions (none is an empty list); a default plan that is the optimizer's own plan with nothing
    anticipated and no call of its own (on a knowledge task the retrieval rule's: the observed
    instructions), an empty list; any other default plan None: it differs from a sample in its
    calls, so its reward says nothing about anticipating."""
    from graph.optimizer import anticipated_written, plan_calls, task_kind

    if plan is None:
        return anticipated_written(values.get("anticipated"))
    own = plan_calls(ctx, values["observed"], [], [], task_kind(values))
    return [] if own and [(c["name"], c["arg"]) for c in plan] == own else None


def training_rows(pairs: list[dict], *, dpo: bool) -> tuple[list[dict], list[dict]]:
    """(reply rows, anticipation rows) the optimizer is trained on. It learns what it wrote in the
    chosen trajectory: its reply, and on a task where it anticipates, the questions it anticipated,
    or ``none`` where the chosen trajectory bought no anticipated question (the rule's plan, or a
    sample whose questions were all dropped). On a knowledge task the anticipated questions, not
    the reply, decide what the plan buys past the observed instructions
    (``graph.optimizer.plan_calls``), so this is what lets refine change the plan and its cost. A
    side whose anticipation is None (a default plan other than the rule's: ``anticipated_by``)
    teaches nothing about anticipating. Rejection sampling (``dpo`` False): prompt/completion rows
    of the chosen trajectories. DPO: prompt/chosen/rejected rows; the two sides' questions pair up
    in the order written (``none`` against each of the other side's), where they differ. A reply
    is trained only where it decided something: not where the chosen side (rejection sampling) or
    either side (DPO) is a sample whose plan left its reply no room (a trajectory's
    ``reply_decides``, from ``graph.optimizer.reply_has_room``; a pair from before it was recorded
    counts as deciding)."""
    from graph.optimizer import NOTHING_ANTICIPATED, anticipation_block

    def written(p, side):
        return p.get(f"{side}_anticipated") or [NOTHING_ANTICIPATED]

    asks = [p for p in pairs if p.get("anticipation_prompt") and p.get("chosen_anticipated") is not None]
    if not dpo:
        return ([{"prompt": p["prompt"], "completion": [{"role": "assistant", "content": p["chosen"]}]} for p in pairs
                 if p.get("chosen_reply_decides", True)],
                [{"prompt": row["prompt"], "completion": [{"role": "assistant", "content": row["completion"]}]}
                 for p in asks for row in (anticipation_block(p["anticipation_prompt"], q) for q in written(p, "chosen"))])
    rows = []
    for p in (p for p in asks if p.get("rejected_anticipated") is not None):
        chosen, rejected = written(p, "chosen"), written(p, "rejected")
        if chosen == [NOTHING_ANTICIPATED]:
            chosen = chosen * len(rejected)
        elif rejected == [NOTHING_ANTICIPATED]:
            rejected = rejected * len(chosen)
        for a, b in zip(chosen, rejected):
            if a != b:
                good, bad = anticipation_block(p["anticipation_prompt"], a), anticipation_block(p["anticipation_prompt"], b)
                rows.append({"prompt": good["prompt"], "chosen": good["completion"], "rejected": bad["completion"]})
    return [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs
            if p.get("chosen_reply_decides", True) and p.get("rejected_reply_decides", True)], rows


def data_key(task: str, updated: dict, ctx: Context) -> str:
    """What decides a reward: the task, the updated policy (its data), the evaluation settings."""
    body = {"task": task, "policy": ctx.policy, "updated": {k: v for k, v in updated.items() if k not in ("rows_dropped",)},
            "eval": [ctx.eval_max_new_tokens, ctx.checks_max_new_tokens, ctx.temperature, ctx.seed, ctx.judge_mode, ctx.judge, ctx.judge_reading,
                     ctx.reward_model, ctx.dtype, ctx.prompts.get("ICL_PROMPT"),
                     ctx.prompts.get("ICL_KNN_PROMPT"), ctx.knn_rows]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class RewardCache:
    """Rewards by ``data_key``, in SQLite beside the run (survives a restart): the table ``rewards``
    of a ``records.store.JsonStore``."""

    def __init__(self, path: Path):
        from records.store import JsonStore

        self.store = JsonStore(path, "rewards")

    def get(self, key: str) -> dict | None:
        return self.store.get(key)

    def put(self, key: str, value: dict) -> None:
        self.store.put(key, value)

    def close(self) -> None:
        """Nothing to close: every call opens and closes its own connection."""


def reward_of(measurement: dict) -> float:
    """S(A): verified accuracy gain where the items carry answers, else adjusted win rate - 0.5."""
    acc = measurement.get("accuracy")
    if acc:
        return acc["updated"] - acc["original"]
    rate = measurement["summary"].get("adjusted_win_rate")
    return (rate - 0.5) if rate is not None else 0.0


def reward_task(ctx: Context, task: dict, trajectories: list[dict], original: list[str]) -> tuple[list[dict], dict]:
    """Rewards of one task's trajectories (cached ones reused, the rest measured in shared batches)."""
    from graph.heldout import measure_many

    cache = RewardCache(Path(ctx.run_dir) / "rewards.sqlite")
    try:
        keys = [data_key(task["task"], t["updated"], ctx) for t in trajectories]
        known = {k: cache.get(k) for k in dict.fromkeys(keys)}
        todo = [k for k, v in known.items() if v is None]
        first = {k: t for k, t in zip(keys, trajectories)}
        t0 = time.perf_counter()
        for k, m in zip(todo, measure_many(ctx, task["held_out"], [first[k]["updated"] for k in todo], original=original)):
            known[k] = {"reward": reward_of(m), "accuracy": m["accuracy"], "summary": m["summary"]}
            cache.put(k, known[k])
        stats = {"trajectories": len(trajectories), "measured": len(todo), "cache_hits": len(trajectories) - len(todo),
                 "seconds": round(time.perf_counter() - t0, 2)}
    finally:
        cache.close()
    return [{**t, "data_key": k, **known[k]} for t, k in zip(trajectories, keys)], stats


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "x"
