"""Active Data Search command line. Each command lives beside the code it drives and loads lazily,
so ``--help`` is instant and a broken optional part never breaks the rest."""

from __future__ import annotations

import importlib
import os

import click

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# name -> "module:attribute" of a click command or group
COMMANDS = {
    "models": "llms.cli:models",
    "corpus": "tools.cli:corpus",
    "tools": "tools.cli:tools",
    "memory": "memory.cli:memory",
    "score": "scoring.cli:score",
    "train": "trainers.cli:train",
    "improve": "graph.cli:improve",
    "inspect": "graph.cli:inspect_run",
    "runs": "graph.cli:runs",
    "tasks": "graph.tasks_cli:tasks",
    "evaluate": "graph.evaluate_cli:evaluate",
    "refine": "graph.refine_cli:refine",
    "settings": "graph.cli:settings",
    "self-improve": "graph.self_improve_cli:self_improve",
    "star-agents": "graph.star_agents_cli:star_agents",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            reason = f"{type(e).__name__}: {e}"

            @click.command(name=name, help=f"(unavailable: {reason})")
            def unavailable():
                raise click.ClickException(f"command '{name}' could not be loaded ({reason}). Run: bash scripts/setup.sh")

            return unavailable


@click.group(cls=LazyGroup)
def main():
    """Active Data Search: find the data that improves a policy LLM, then improve it."""


if __name__ == "__main__":
    main()
