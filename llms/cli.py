"""`models` commands: show and prepare the packaged models."""

from __future__ import annotations

import json

import click

from .base import ModelError
from .registry import PACKAGED, list_models, prepare


@click.group()
def models():
    """Show and prepare the models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(as_json):
    """List packaged models and whether they are installed and prepared."""
    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "prepared" if r["prepared"] else ("installed" if r["installed"] else "missing")
        click.echo(f"{r['spec']:<34} {r['kind']:<10} {state:<9} hub: {r['hub']}")
        if not r["installed"]:
            click.echo(f"    install: {r['install']}")
    click.echo("Other specs: local:<folder|hub-name>, vllm:<model>, openai:<model>@<base_url>")


@models.command("prepare")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Convert again even if a converted copy exists.")
def prepare_cmd(names, force):
    """Convert the packaged GGUF policy to a plain HF folder (once) and check the embedder."""
    for name in names or list(PACKAGED):
        if name.startswith("local:"):
            name = name[len("local:"):]
        if name not in PACKAGED:
            raise click.ClickException(f"unknown packaged model '{name}'; choose from: {', '.join(PACKAGED)}")
        try:
            path = prepare(name, force=force)
        except ModelError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"{name}: {path}")


@models.command("serve")
@click.option("--model", "spec", default="local:smollm2-135m-instruct", show_default=True, envvar="ADS_POLICY",
              help="Model spec to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve_cmd(spec, host, port):
    """Serve a local model over the OpenAI-compatible API (use it as openai:<name>@http://HOST:PORT/v1)."""
    import time

    from . import load
    from .serve import start_server

    try:
        llm = load(spec)
    except ModelError as e:
        raise click.ClickException(str(e)) from e
    if not hasattr(llm, "generate_raw"):
        raise click.ClickException(f"{spec} is not a local model; serve local:<model> specs (vllm serve serves GPUs)")
    server, url = start_server(llm, host=host, port=port, model_name=spec.partition(":")[2] or spec)
    click.echo(f"serving {spec} at {url}  (spec for clients: openai:{spec.partition(':')[2] or spec}@{url})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
