"""The refine graph: learn the optimizer from measured gain and cost (the ADS paper's Algorithm 1).

originals (the policy's held-out answers, once per training task)
  -> trajectory (one per step: K sampled optimizer trajectories + 3 default ones per task, each an
                 improve run without measurement; graph/refine/steps.py; with executor=ray all
                 of an iteration's at once, each a Ray task)
  -> reward (one task per step, or with executor=ray every task at once: every trajectory's update
             measured in shared batches, cached)
  -> train (pairs by cost tier tau; iteration 0: rejection sampling = LoRA SFT on the chosen
            trajectories; iterations 1..N: DPO on chosen / rejected, from the previous adapter)
  -> validate (the new optimizer against the prompting baseline on the validation tasks,
               through the evaluation harness)
  -> trajectory of the next iteration ... -> report (refine_report.json / .md, refine.png)

Every iteration's adapter is kept: ``improve --optimizer local:<base>+<run_dir>/iter<i>/optimizer/adapter``.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graph.context import Context
from graph.nodes import node


def _merge(a: dict | None, b: dict | None) -> dict:
    return {**(a or {}), **(b or {})}


class RefineInput(TypedDict, total=False):
    train: list[dict]  # training tasks (graph.tasks.load.load_task), each with held-out items
    validation: list[dict]  # validation tasks: the refined optimizer is measured on them after every iteration


class RefineOutput(TypedDict, total=False):
    refine_report: dict


class RefineState(RefineInput, RefineOutput, total=False):
    iteration: int  # 0: rejection sampling; 1..N: DPO
    jobs: list[dict]  # this iteration's trajectories to run: {"task", "kind", "k"}
    planned_iterations: int  # 1 (rejection sampling) + Context.refine_iterations (DPO)
    optimizers: list[str]  # optimizer spec per iteration, [0] = the untrained one
    originals: Annotated[dict, _merge]  # train task -> original held-out answers
    trajectories: Annotated[list[dict], operator.add]  # every finished trajectory, all iterations
    rewarded: Annotated[dict, _merge]  # "<iteration>|<task>" -> the task's trajectories with rewards
    reward_stats: Annotated[list[dict], operator.add]
    iterations: Annotated[list[dict], operator.add]  # per iteration: pairs, training, validation


def recursion_limit(ctx: Context, inputs: dict | None = None) -> int:
    tasks = len((inputs or {}).get("train") or [])
    per_iteration = tasks * (ctx.refine_samples + 3) + tasks + 3
    return tasks + (ctx.refine_iterations + 1) * per_iteration + 20


def _current(state: RefineState) -> list[dict]:
    return [t for t in state.get("trajectories") or [] if t["iteration"] == state.get("iteration", 0)]


# ---- nodes ---------------------------------------------------------------------------------

@node("originals")
def originals(state: RefineState, ctx: Context) -> dict:
    """The original policy's answers to one training task's held-out instructions."""
    from graph.heldout import original_answers

    if not state.get("train"):
        raise ValueError("refine needs training tasks (python cli.py tasks build, then --tasks DIR)")
    task = next(t for t in state["train"] if t["task"] not in (state.get("originals") or {}))
    out = {"originals": {task["task"]: original_answers(ctx, task["held_out"])}}
    if not state.get("optimizers"):
        from graph.refine.steps import jobs_for

        out.update(optimizers=[ctx.optimizer], iteration=0, jobs=jobs_for(ctx, state["train"]),
                   planned_iterations=1 + ctx.refine_iterations)
    return out


@node("trajectory")
def trajectory(state: RefineState, ctx: Context) -> dict:
    """The next trajectory of this iteration, or with executor=ray every remaining one at once (each an
    improve run, checkpointed as its own thread)."""
    from graph.executor import batch, run_units
    from graph.refine.steps import run_trajectory

    tasks = {t["task"]: t for t in state["train"]}
    i = state.get("iteration", 0)
    todo = batch(ctx, state["jobs"][len(_current(state)):])
    return {"trajectories": run_units(ctx, run_trajectory, [(ctx, j, tasks[j["task"]], i, state["optimizers"][i]) for j in todo])}


@node("reward")
def reward(state: RefineState, ctx: Context) -> dict:
    """Rewards of one task's trajectories, measured together; with executor=ray every remaining task's
    at once, each task a Ray task."""
    from graph.executor import batch, run_units
    from graph.refine.steps import reward_task

    i = state.get("iteration", 0)
    todo = batch(ctx, [t for t in state["train"] if f"{i}|{t['task']}" not in (state.get("rewarded") or {})])
    calls = [(ctx, task, [t for t in _current(state) if t["task"] == task["task"]], state["originals"][task["task"]])
             for task in todo]
    out = {"rewarded": {}, "reward_stats": []}
    for task, (rewarded, stats) in zip(todo, run_units(ctx, reward_task, calls)):
        out["rewarded"][f"{i}|{task['task']}"] = [{k: v for k, v in t.items() if k not in ("updated", "messages")}
                                                   | {"messages": t["messages"]} for t in rewarded]
        out["reward_stats"].append({"iteration": i, "task": task["task"], **stats})
    return out


@node("train")
def train(state: RefineState, ctx: Context) -> dict:
    """Pairs by cost tier, then rejection sampling (iteration 0) or DPO (later) of the optimizer."""
    from trainers.session import with_adapter
    from trainers.tiers import select_pair

    i = state.get("iteration", 0)
    pairs, no_pair = [], []
    for task in state["train"]:
        scored = state["rewarded"][f"{i}|{task['task']}"]
        if ctx.refine_pairs == "controlled":  # the samples and the rule's plan (it anticipates nothing: [])
            scored = [t for t in scored if t["kind"].startswith("sample:") or t.get("anticipated") == []]
        picked = select_pair([t["reward"] for t in scored], [t["cost"] for t in scored], tau=ctx.cost_tier,
                             tie_by_cost=ctx.refine_pairs == "controlled")
        if picked is None:
            no_pair.append(task["task"])
            continue
        chosen, rejected = scored[picked[0]], scored[picked[1]]
        pairs.append({"task": task["task"], "prompt": chosen["messages"], "chosen": chosen["reply"],
                      "rejected": rejected["reply"], "chosen_kind": chosen["kind"], "rejected_kind": rejected["kind"],
                      "chosen_reward": chosen["reward"], "rejected_reward": rejected["reward"],
                      "chosen_cost": chosen["cost"], "rejected_cost": rejected["cost"],
                      "anticipation_prompt": next((t["anticipation_prompt"] for t in (chosen, rejected)
                                                   if t.get("anticipation_prompt")), None),
                      "chosen_anticipated": chosen.get("anticipated"), "rejected_anticipated": rejected.get("anticipated"),
                      "chosen_reply_decides": chosen.get("reply_decides", True),
                      "rejected_reply_decides": rejected.get("reply_decides", True)})
    record = {"iteration": i, "method": "rejection sampling" if i == 0 else "dpo", "pairs": pairs,
              "tasks_without_pair": no_pair, "pairs_from": ctx.refine_pairs,
              "optimizer_before": state["optimizers"][i]}
    out_dir = Path(ctx.run_dir) / f"iter{i}" / "optimizer"
    # the optimizer's prompt (system, API list, examples, task) is ~750 tokens, past the policy
    # recipes' 512: a shorter max_length would cut it, and rows without a completion left are dropped
    cfg = {"max_length": 2048, **({"max_steps": ctx.refine_steps} if ctx.refine_steps > 0 else {})}
    if not pairs:
        record["note"] = "every task's trajectories tied: nothing to learn, the optimizer is unchanged"
        return {"iterations": [record], "optimizers": state["optimizers"] + [state["optimizers"][i]]}
    from graph.refine.steps import training_rows

    rows, anticipation = training_rows(pairs, dpo=i > 0)
    without_effect = sum(not (p["chosen_reply_decides"] and (i == 0 or p["rejected_reply_decides"])) for p in pairs)
    if not rows and not anticipation:
        record.update(note="no pair carries a lesson (no reply decided a purchase, no anticipation differed): "
                           "the optimizer is unchanged", reply_rows=0, anticipation_rows=0, train_rows=0,
                      replies_without_effect=without_effect)
        return {"iterations": [record], "optimizers": state["optimizers"] + [state["optimizers"][i]]}
    if i == 0:
        from trainers.sft import run_sft

        adapter = run_sft(cfg, rows + anticipation, out_dir, base=state["optimizers"][i], recipe=ctx.optimizer_sft_recipe)
    else:
        from trainers.dpo import run_dpo

        adapter = run_dpo(cfg, rows + anticipation, out_dir, base=state["optimizers"][i], recipe=ctx.optimizer_dpo_recipe)
    spec = with_adapter(state["optimizers"][i], adapter)
    record.update(adapter=str(adapter), optimizer_after=spec, train_rows=len(rows) + len(anticipation),
                  reply_rows=len(rows), anticipation_rows=len(anticipation), replies_without_effect=without_effect)
    return {"iterations": [record], "optimizers": state["optimizers"] + [spec]}


@node("validate")
def validate(state: RefineState, ctx: Context) -> dict:
    """The new optimizer vs the untrained one on the validation tasks (the evaluation harness)."""
    from graph.runs import UnitRuns

    i = state.get("iteration", 0)
    record = dict(state["iterations"][-1])
    if state.get("validation"):
        spec = state["optimizers"][i + 1]
        vctx = ctx.variant(run_dir=str(Path(ctx.run_dir) / f"iter{i}" / "validation"), step=False)
        values = UnitRuns(ctx, "validation").finish("evaluate", f"validate-iter{i}",
                                                    {"tasks": state["validation"], "methods": ["prompting", f"ads={spec}"]}, vctx)
        rows = values["eval_report"]["methods"]
        record["validation"] = {"prompting": rows[0], "refined": rows[1]}
    from graph.refine.steps import jobs_for

    return {"iterations": [{**record, "validated": True}], "iteration": i + 1,
            "jobs": jobs_for(ctx, state["train"])}


@node("report")
def report(state: RefineState, ctx: Context) -> dict:
    from graph.refine import report as refine_report

    return {"refine_report": refine_report.write(state, ctx)}


# ---- routers and wiring ---------------------------------------------------------------------

def after_originals(state: RefineState) -> str:
    return "originals" if len(state.get("originals") or {}) < len(state["train"]) else "trajectory"


def after_trajectory(state: RefineState) -> str:
    return "trajectory" if len(_current(state)) < len(state["jobs"]) else "reward"


def after_reward(state: RefineState) -> str:
    i = state.get("iteration", 0)
    done = sum(1 for k in state.get("rewarded") or {} if k.startswith(f"{i}|"))
    return "reward" if done < len(state["train"]) else "train"


def after_validate(state: RefineState) -> str:
    trained = sum(1 for r in state.get("iterations") or [] if r.get("validated"))
    return "trajectory" if trained < state["planned_iterations"] else "report"


builder = StateGraph(RefineState, context_schema=Context, input_schema=RefineInput, output_schema=RefineOutput)
builder.add_node("originals", originals)
builder.add_node("trajectory", trajectory)
builder.add_node("reward", reward)
builder.add_node("train", train)
builder.add_node("validate", validate)
builder.add_node("report", report)
builder.add_edge(START, "originals")
builder.add_conditional_edges("originals", after_originals, ["originals", "trajectory"])
builder.add_conditional_edges("trajectory", after_trajectory, ["trajectory", "reward"])
builder.add_conditional_edges("reward", after_reward, ["reward", "train"])
builder.add_edge("train", "validate")
builder.add_conditional_edges("validate", after_validate, ["trajectory", "report"])
builder.add_edge("report", END)

graph = builder.compile()
graph.name = "refine"
