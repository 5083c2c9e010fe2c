"""Every runtime setting of a run, in one place. Nodes and tools read ``runtime.context``.

Each field has a one-line description; every field can be set from the command line
(``--set field=value``, ``--config run.yaml``) and is checked by ``Context.build``: an unknown
field, a value of the wrong type, an unknown choice, or a setting that would change nothing (a
curation step's parameter while that step is off) is a ``ConfigError`` that says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import string
import types
import typing
from dataclasses import dataclass, field, fields

from llms.registry import DEFAULT_EMBEDDER, DEFAULT_POLICY, ads_home
from tools.table import COSTS, TOOL_NAMES

CURATION_STEPS = ("dedupe", "judge", "isheep", "perplexity", "ifd", "star")
UPDATES = ("icl", "sft")
JUDGE_MODES = ("auto", "pairwise", "reward", "verify")
DTYPES = ("float32", "bfloat16", "float16")
READINGS = ("auto", "logprobs", "tokens", "text")


class ConfigError(ValueError):
    """A setting cannot be used; the message names it and says what to do."""


def _f(default=dataclasses.MISSING, *, describe: str, factory=None, choices=None, step: str | None = None):
    meta = {"description": describe, "choices": choices, "step": step}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(kw_only=True)
class Context:
    # -- models ---------------------------------------------------------------------------
    policy: str = _f(DEFAULT_POLICY, describe="Model spec of the policy being improved.")
    optimizer: str = _f(DEFAULT_POLICY, describe="Model spec of the optimizer that plans API calls.")
    teacher: str | None = _f(None, describe="Stronger model spec for question_answering; None: the policy answers grounded in retrieved passages (and says so).")
    judge: str = _f(DEFAULT_POLICY, describe="Model spec of the judge (pairwise held-out comparison and self-assessment of gathered rows).")
    judge_reading: str = _f("auto", choices=READINGS, describe="How a judge's answer is read: logprobs (yes/no-style questions read from the answer words' probabilities; never unparsable), tokens (probabilities of the prompt's own rating / [[A]] tokens), text (a reply, parsed), auto (logprobs where the backend gives them, else text).")
    judge_tie_margin: float = _f(0.02, describe="Pairwise judge read by log-probs: quality scores (0..1) closer than this are a tie.")
    judge_mode: str = _f("auto", choices=JUDGE_MODES, describe="How held-out gain is decided: auto (verifier where items carry answers/checks, else reward model if set, else pairwise), pairwise, reward, verify.")
    reward_model: str | None = _f(None, describe="Sequence-classification reward model (name or path) that judges items without a verifier.")
    tie_margin: float = _f(0.0, describe="Reward-score difference under which a reward-model comparison is a tie.")
    embedder: str = _f(DEFAULT_EMBEDDER, describe="Dense embedder for reranking and the memory bank (packaged name, path or hub name).")
    dtype: str | None = _f(None, choices=DTYPES, describe="Model dtype of local models; None: float32 on CPU, bfloat16 on GPU.")
    # -- data-collecting APIs -------------------------------------------------------------
    corpus: str = _f("wiki-offline", describe="Retrieval corpus: a built index name or folder (python cli.py corpus build).")
    retrieval_k: int = _f(1, describe="Passages information_retrieval returns after the dense rerank.")
    bm25_candidates: int = _f(1000, describe="BM25 candidates handed to the dense reranker.")
    demonstrations_per_call: int = _f(2, describe="Instruction-response pairs demonstration_generation writes per call.")
    demonstration_temperature: float = _f(0.7, describe="Sampling temperature of demonstration_generation (above 0, so its samples differ).")
    qa_passages: int = _f(2, describe="Retrieved passages that ground question_answering when no teacher is set.")
    memory_k: int = _f(2, describe="Rows memory_search returns from the instruction memory bank.")
    apis: list = _f(describe="The APIs the optimizer may call: its prompt lists only these and the parser accepts only these.",
                    factory=lambda: list(TOOL_NAMES))
    tool_cache: bool = _f(True, describe="Answer repeated tool calls from the persistent cache (cache_path); --no-cache turns it off.")
    generation_cache: bool = _f(True, describe="Answer repeated generations and log-prob scores of every model from the persistent cache (generation_cache.sqlite beside cache_path); --no-cache turns it off.")
    costs: dict = _f(describe="Cost of one call of each API.", factory=lambda: dict(COSTS))
    max_calls: int = _f(6, describe="Most API calls the optimizer may make in a run.")
    max_cost: float = _f(12.0, describe="Most total API cost the optimizer may spend in a run.")
    max_arg_chars: int = _f(500, describe="Longest accepted API argument; longer ones are tool errors.")
    cache_path: str = _f(describe="Persistent tool-call cache (SQLite).", factory=lambda: str(ads_home() / "tool_cache.sqlite"))
    memory_path: str = _f(describe="Chroma instruction memory bank folder.", factory=lambda: str(ads_home() / "memory"))
    # -- generation -----------------------------------------------------------------------
    temperature: float = _f(0.0, describe="Sampling temperature of the optimizer's first reply, the policy's answers and QA (0: greedy).")
    max_new_tokens: int = _f(256, describe="Longest generation of the optimizer and the tools.")
    seed: int = _f(0, describe="Seed for sampling and data splits.")
    batch_size: int = _f(8, describe="Prompts per batched generation or scoring pass.")
    parse_retries: int = _f(2, describe="Times an unparsable optimizer reply is retried before it is recorded.")
    # -- curation -------------------------------------------------------------------------
    curation: list = _f(describe=f"Curation steps in order (graph/curate.py), after empty rows are dropped: any of {', '.join(CURATION_STEPS)}.",
                        factory=lambda: ["dedupe", "judge"])
    min_judge_score: float = _f(0.0, step="judge", describe="Step judge: keep rows whose judge score (0..1) is at least this; unrated rows are kept.")
    assess_threshold: int = _f(8, step="isheep", describe="Step isheep: keep pairs the judge rates at least this (1-10) for both quality and following.")
    max_perplexity: float = _f(50.0, step="perplexity", describe="Step perplexity: drop pairs whose response perplexity given the instruction exceeds this (I-SHEEP: 50).")
    min_ifd: float = _f(0.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is at least this.")
    max_ifd: float = _f(1.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is below this (Cherry LLM: 1).")
    large_model: str | None = _f(None, step="star", describe="Step star: the stronger model of the dual-model IFD (Star-Agents eq. 5); rows scoring judge x dual IFD <= min_star_score are dropped.")
    min_star_score: float = _f(0.0, step="star", describe="Step star: keep rows whose composite score (judge x dual IFD) exceeds this.")
    # -- update and measurement -----------------------------------------------------------
    update: str = _f("icl", choices=UPDATES, describe="How the policy is updated with the curated data: icl (in context) or sft (LoRA).")
    icl_token_budget: int = _f(1024, describe="Tokens of curated data packed into the policy's context (icl).")
    sft_recipe: str | None = _f(None, describe="YAML recipe for LoRA SFT (default: recipes/sft_lora.yaml).")
    eval_max_new_tokens: int = _f(64, describe="Longest answer of the original and the updated policy on a held-out instruction.")
    judge_max_new_tokens: int = _f(512, describe="Longest reply of the pairwise judge.")
    # -- run ------------------------------------------------------------------------------
    run_dir: str = _f("runs/latest", describe="Folder for trajectory.json, dataset.jsonl, report.json/md, adapters.")
    step: bool = _f(False, describe="Pause before every tool call (LangGraph interrupt): approve, edit the argument, skip or quit.")
    prompts: dict = _f(describe="Overrides of graph/prompts.py templates, by name (each may use only its default's {fields}).", factory=dict)

    # ---- building and checking -------------------------------------------------------------
    @classmethod
    def describe(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("description", "") for f in fields(cls)}

    @classmethod
    def build(cls, settings: dict | None = None, **more) -> "Context":
        """A checked Context from settings (strings from the command line are parsed as YAML
        values, then coerced to the field's type)."""
        values = {**(settings or {}), **more}
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            close = {u: [k for k in known if k.startswith(u[:4])] for u in unknown}
            hint = "; ".join(f"{u} (did you mean {', '.join(c)}?)" if c else u for u, c in close.items())
            raise ConfigError(f"unknown setting(s): {hint}. Settings: python cli.py settings")
        ctx = cls(**{k: _coerce(k, v, hints[k]) for k, v in values.items()})
        return ctx.check()

    def replace(self, **changes) -> "Context":
        return Context.build({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> "Context":
        """Raise ConfigError for a value that cannot work or a setting that would change nothing."""
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{f.name}={value!r}: choose one of {', '.join(choices)}")
        unknown_apis = [a for a in self.apis if a not in TOOL_NAMES]
        if unknown_apis or not self.apis:
            raise ConfigError(f"apis: name one or more of {', '.join(TOOL_NAMES)}" +
                              (f" (unknown: {', '.join(unknown_apis)})" if unknown_apis else ""))
        bad = [s for s in self.curation if s not in CURATION_STEPS]
        if bad:
            raise ConfigError(f"unknown curation step(s) {', '.join(bad)}: use {', '.join(CURATION_STEPS)}")
        for f in fields(self):
            step = f.metadata.get("step")
            default = f.default if f.default is not dataclasses.MISSING else None
            if step and step not in self.curation and getattr(self, f.name) != default:
                raise ConfigError(f"{f.name} is a setting of the curation step '{step}', which is off: add it "
                                  f"(--set curation={','.join([*self.curation, step])}) or leave {f.name} unset")
        if "star" in self.curation and not self.large_model:
            raise ConfigError("curation step 'star' needs large_model (a stronger model spec for the dual-model IFD)")
        if self.judge_mode == "reward" and not self.reward_model:
            raise ConfigError("judge_mode=reward needs reward_model (a sequence-classification model name or path)")
        if self.reward_model and self.judge_mode in ("pairwise", "verify"):
            raise ConfigError(f"reward_model is set but judge_mode={self.judge_mode} never uses it: use judge_mode=reward or auto")
        unknown = sorted(set(self.costs) - set(COSTS))
        if unknown or any(float(v) < 0 for v in self.costs.values()):
            raise ConfigError(f"costs: give a non-negative cost for any of {', '.join(COSTS)}"
                              + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        self.costs = {**COSTS, **{k: float(v) for k, v in self.costs.items()}}
        for name in ("max_calls", "batch_size", "max_new_tokens", "eval_max_new_tokens", "retrieval_k", "memory_k",
                     "demonstrations_per_call", "bm25_candidates", "max_arg_chars", "judge_max_new_tokens"):
            if getattr(self, name) < (0 if name == "max_calls" else 1):
                raise ConfigError(f"{name} must be {'>= 0' if name == 'max_calls' else '>= 1'}, not {getattr(self, name)}")
        if self.max_cost < 0 or self.icl_token_budget < 0 or self.parse_retries < 0:
            raise ConfigError("max_cost, icl_token_budget and parse_retries must be >= 0")
        check_prompts(self.prompts)
        return self

    def prompt(self, name: str) -> str:
        """The template ``name``: the run's override, else graph/prompts.py's default. Every prompt
        of every graph, tool, scorer and trainer is fetched here."""
        from graph import prompts

        if name in self.prompts:
            return self.prompts[name]
        try:
            return getattr(prompts, name)
        except AttributeError:
            raise ConfigError(f"unknown prompt {name!r}; prompts: {', '.join(prompts.NAMES)}") from None


def template_fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def check_prompts(overrides: dict) -> None:
    from graph import prompts

    for name, text in overrides.items():
        if name not in prompts.NAMES:
            raise ConfigError(f"prompts: unknown prompt {name!r}; prompts: {', '.join(prompts.NAMES)}")
        if not isinstance(text, str):
            raise ConfigError(f"prompts.{name} must be a string")
        try:
            extra = template_fields(text) - template_fields(getattr(prompts, name))
        except ValueError as e:
            raise ConfigError(f"prompts.{name} is not a valid template ({e}); write literal braces as {{{{ }}}}") from None
        if extra:
            raise ConfigError(f"prompts.{name} uses {{{', '.join(sorted(extra))}}}, which it is never filled with; "
                              f"it may use {{{', '.join(sorted(template_fields(getattr(prompts, name))))}}}")


def _coerce(name: str, value, hint):
    """``value`` (possibly a command-line string) as the field's type, or ConfigError."""
    import yaml

    if isinstance(value, str) and hint is not str:
        try:
            value = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            pass
    args = typing.get_args(hint)
    optional = (typing.get_origin(hint) in (typing.Union, types.UnionType)) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{name} cannot be empty")
    if base is list and isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if base is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is bool and isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "on", "off", "1", "0"):
        return value.lower() in ("yes", "true", "on", "1")
    if base is dict and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise ConfigError(f"{name}={value!r}: expected {getattr(base, '__name__', base)}")
    return value


def load_model(ctx: Context, spec: str):
    """The model ``spec`` as this run uses it (its dtype, behind the generation cache unless
    ``generation_cache`` is off): every graph loads models here."""
    from pathlib import Path

    import llms
    from llms.gencache import cached

    llm = llms.load(spec, dtype=ctx.dtype)
    if not ctx.generation_cache:
        return llm
    return cached(llm, Path(ctx.cache_path).expanduser().with_name("generation_cache.sqlite"), dtype=ctx.dtype, spec=spec)


def context_of(runtime) -> Context:
    """The run's Context from a node's runtime; a host app may pass a dict of settings or nothing."""
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, Context):
        return ctx
    if isinstance(ctx, dict):
        return Context.build(ctx)
    return Context()


def node(stage: str):
    """A graph node from ``fn(state, ctx) -> update``: the node reads the run's Context from the
    LangGraph runtime and adds the seconds it took to ``timings[stage]``."""
    import functools
    import time

    from langgraph.runtime import Runtime

    def wrap(fn):
        def run(state, runtime: Runtime[Context]) -> dict:
            t0 = time.perf_counter()
            out = fn(state, context_of(runtime)) or {}
            return {**out, "timings": {stage: time.perf_counter() - t0}}

        functools.update_wrapper(run, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        del run.__wrapped__  # LangGraph reads the signature: it must see ``runtime``, not fn's ``ctx``
        return run

    return wrap
