"""`refine`: learn the optimizer from measured gain and cost (rejection sampling, then DPO)."""

from __future__ import annotations

import json

import click

from graph.cli import build_context, run_dir, run_graph, settings_options


class TrajectoryProgress:
    """A progress bar over tasks x trajectories per iteration, with the running API cost."""

    def __init__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=None, desc="trajectories", unit="traj", dynamic_ncols=True)
        self.cost = 0.0

    def __call__(self, node: str, update: dict) -> None:
        if update.get("jobs") is not None:
            self.bar.reset(total=len(update["jobs"]))
            self.bar.set_description(f"iteration {update.get('iteration', 0)} trajectories")
        if node == "trajectory":
            t = update["trajectories"][-1]
            self.cost += t["cost"]
            self.bar.update(1)
            self.bar.set_postfix_str(f"{t['task']} / {t['kind']}: {len(t['api_calls'])} calls, cost so far {self.cost:g}")
        elif node == "reward":
            s = update["reward_stats"][-1]
            self.bar.set_postfix_str(f"rewards {s['task']}: {s['measured']} measured, {s['cache_hits']} cached")
        elif node == "train":
            r = update["iterations"][-1]
            self.bar.set_postfix_str(f"{r['method']}: {len(r['pairs'])} pairs -> {r.get('adapter') or r.get('note')}")
        elif node == "report":
            self.bar.close()


@click.command()
@click.option("--tasks", "tasks_path", type=click.Path(exists=True, file_okay=False),
              help="A folder from tasks build: its train split trains, its validation split validates.")
@click.option("--samples", "refine_samples", type=int, help="Sampled trajectories per task and iteration (K, default 5).")
@click.option("--iterations", "refine_iterations", type=int, help="DPO iterations after rejection sampling (default 1).")
@click.option("--tau", "cost_tier", type=float, help="Cost tier of pair selection (default 0.1).")
@click.option("--max-tasks", type=int, help="Use only the first N training and validation tasks.")
@click.option("--policy", envvar="ADS_POLICY", help="Policy model spec.")
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="The optimizer to refine (default: the policy's model).")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge of items without a verifier.")
@click.option("--seed", type=int)
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default runs/refine-<time>).")
@click.option("--resume", metavar="THREAD", help="Continue an interrupted refine; finished trajectories are never run again.")
@settings_options
def refine(tasks_path, max_tasks, out, resume, db, config_file, sets, no_cache, **named):
    """Learn the optimizer: sampled + default trajectories, rewards by held-out gain and cost, RS then DPO."""
    from graph.tasks.load import TaskError, load_tasks

    def start():
        if not tasks_path:
            raise click.ClickException("give --tasks FOLDER (built with python cli.py tasks build)")
        named["run_dir"] = run_dir(out, "refine")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        try:
            inputs = {"train": load_tasks(tasks_path, split="train", seed=ctx.seed)[:max_tasks],
                      "validation": load_tasks(tasks_path, split="validation", seed=ctx.seed)[:max_tasks]}
        except TaskError as e:
            raise click.ClickException(str(e)) from None
        return inputs, ctx, f"{len(inputs['train'])} training, {len(inputs['validation'])} validation task(s)"

    thread, values = run_graph("refine", db, resume=resume, start=start, progress=lambda values: TrajectoryProgress())
    rep = (values or {}).get("refine_report")
    if rep is None:
        raise click.ClickException(f"refine {thread} stopped early; continue it with --resume {thread}")
    for r in rep["iterations"]:
        click.echo(f"iteration {r['iteration']} ({r['method']}): {r['pairs']} pairs; validation prompting "
                   f"{r.get('validation_prompting', {}).get('accuracy_gain')} vs refined "
                   f"{r.get('validation_refined', {}).get('accuracy_gain')}", err=True)
    click.echo(json.dumps({"thread": thread, "optimizers": rep["optimizers"]}, indent=2))
