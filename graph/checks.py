"""Checking settings: every value must be usable, and every setting must change what happens.

``check(ctx)`` is what ``Context.build`` runs: choices, curation steps and their settings, update
kinds, budgets, costs, prompt overrides (each may use only its default's ``{fields}``), and the
Star-Agents and I-SHEEP settings. ``coerce`` turns a command-line string into a field's type.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
import types
import typing
from dataclasses import fields
from typing import TYPE_CHECKING

from graph.options import ALWAYS_READ, CURATION_STEPS, RAY_SETTINGS, ConfigError, uses_update
from tools.table import COSTS, TOOL_NAMES

if TYPE_CHECKING:  # only for annotations: Context imports this module when it checks itself
    from graph.context import Context


def check(ctx: Context) -> Context:
    """Raise ConfigError for a value that cannot work or a setting that would change nothing."""
    for f in fields(ctx):
        choices = f.metadata.get("choices")
        value = getattr(ctx, f.name)
        if choices and value is not None and value not in choices:
            raise ConfigError(f"{f.name}={value!r}: choose one of {', '.join(choices)}")
    unknown_apis = [a for a in ctx.apis if a not in TOOL_NAMES]
    if unknown_apis or not ctx.apis:
        raise ConfigError(f"apis: name one or more of {', '.join(TOOL_NAMES)}" +
                          (f" (unknown: {', '.join(unknown_apis)})" if unknown_apis else ""))
    bad = [s for s in ctx.curation if s not in CURATION_STEPS]
    if bad:
        raise ConfigError(f"unknown curation step(s) {', '.join(bad)}: use {', '.join(CURATION_STEPS)}")
    for f in fields(ctx):
        step, update, also = f.metadata.get("step"), f.metadata.get("update"), f.metadata.get("also")
        default = f.default if f.default is not dataclasses.MISSING else None
        read_elsewhere = also == ALWAYS_READ or bool(also and getattr(ctx, also))
        if step and step not in ctx.curation and not read_elsewhere and getattr(ctx, f.name) != default:
            raise ConfigError(f"{f.name} is a setting of the curation step '{step}', which is off: add it "
                              f"(--set curation={','.join([*ctx.curation, step])})"
                              + (f", or in self-improve turn on {also} (--set {also}=true)," if also else "")
                              + f" or leave {f.name} unset")
        if also and not step and not read_elsewhere and getattr(ctx, f.name) != default:
            raise ConfigError(f"{f.name} is a setting of {also}, which is off: --set {also}=true or leave {f.name} unset")
        if update and not uses_update(ctx.update, update) and getattr(ctx, f.name) != default:
            raise ConfigError(f"{f.name} is a setting of the update '{update}', not of update={ctx.update}: "
                              f"use --update {update} or leave {f.name} unset")
    if "star" in ctx.curation and not ctx.large_model:
        raise ConfigError("curation step 'star' needs large_model (a stronger model spec for the dual-model IFD)")
    if ctx.judge_mode == "reward" and not ctx.reward_model:
        raise ConfigError("judge_mode=reward needs reward_model (a sequence-classification model name or path)")
    if ctx.reward_model and ctx.judge_mode in ("pairwise", "verify"):
        raise ConfigError(f"reward_model is set but judge_mode={ctx.judge_mode} never uses it: use judge_mode=reward or auto")
    unknown = sorted(set(ctx.costs) - set(COSTS))
    if unknown or any(float(v) < 0 for v in ctx.costs.values()):
        raise ConfigError(f"costs: give a non-negative cost for any of {', '.join(COSTS)}"
                          + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    ctx.costs = {**COSTS, **{k: float(v) for k, v in ctx.costs.items()}}
    for name in ("max_calls", "batch_size", "max_new_tokens", "eval_max_new_tokens", "checks_max_new_tokens", "retrieval_k", "memory_k",
                 "demonstrations_per_call", "bm25_candidates", "max_arg_chars", "judge_max_new_tokens"):
        if getattr(ctx, name) is not None and getattr(ctx, name) < (0 if name == "max_calls" else 1):
            raise ConfigError(f"{name} must be {'>= 0' if name == 'max_calls' else '>= 1'}, not {getattr(ctx, name)}")
    if ctx.passage_budget is not None and ctx.passage_budget < 0:
        raise ConfigError(f"passage_budget must be >= 0 (0: off), not {ctx.passage_budget}")
    if not 0 <= ctx.anticipate_min_similarity <= 1:
        raise ConfigError(f"anticipate_min_similarity is an embedding cosine from 0 (off) to 1, not {ctx.anticipate_min_similarity}")
    if ctx.rounds < 1:
        raise ConfigError(f"rounds must be >= 1, not {ctx.rounds}")
    if ctx.rounds == 1 and (ctx.max_total_cost is not None or ctx.round_sft != "continue" or not ctx.stop_without_gain):
        raise ConfigError("max_total_cost, round_sft and stop_without_gain are settings of runs with rounds > 1: "
                          "set --rounds N")
    if ctx.max_cost < 0 or ctx.icl_token_budget < 0 or ctx.parse_retries < 0:
        raise ConfigError("max_cost, icl_token_budget and parse_retries must be >= 0")
    check_prompts(ctx.prompts)
    check_executor(ctx)
    check_star_agents(ctx)
    check_self_improve(ctx)
    return ctx


def check_executor(ctx: Context) -> None:
    """The executor's settings can work, and none is set that the chosen executor never reads."""
    defaults = {f.name: f.default for f in fields(ctx) if f.name in RAY_SETTINGS}
    changed = [n for n in RAY_SETTINGS if getattr(ctx, n) != defaults[n]]
    if ctx.executor == "local" and changed:
        raise ConfigError(f"{', '.join(changed)}: setting(s) of executor=ray, which is off: --set executor=ray, "
                          "or leave them unset")
    if ctx.ray_address and ctx.ray_workers != defaults["ray_workers"]:
        raise ConfigError("ray_workers sizes the local cluster started when ray_address is unset; the cluster at "
                          f"{ctx.ray_address} has its own resources: leave ray_workers unset")
    if ctx.ray_workers < 1 or ctx.unit_cpus <= 0 or ctx.unit_gpus < 0 or ctx.unit_retries < 0:
        raise ConfigError(f"executor=ray needs ray_workers >= 1, unit_cpus > 0, unit_gpus >= 0 and unit_retries >= 0 "
                          f"(got {ctx.ray_workers}, {ctx.unit_cpus}, {ctx.unit_gpus}, {ctx.unit_retries})")
    if ctx.ray_setup and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", ctx.ray_setup):
        raise ConfigError(f"ray_setup={ctx.ray_setup!r}: write MODULE:FUNCTION, e.g. mypackage.backends:register")
    if ctx.checkpoint_uri and not ctx.checkpoint_uri.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"checkpoint_uri={ctx.checkpoint_uri!r}: give a postgresql://USER:PASSWORD@HOST:PORT/DB URI, "
                          "or leave it unset for SQLite files in run_dir")


def check_star_agents(ctx: Context) -> None:
    """The Star-Agents settings can work: agents, base pairs, M >= l >= 0, a large model that differs from the policy."""
    from pathlib import Path

    from graph import prompts
    from graph.agents import AgentError, check_base_pairs, parse_agents

    try:
        check_base_pairs(ctx.star_base_pairs, parse_agents(ctx.star_agents, prompts.NAMES))
    except AgentError as e:
        raise ConfigError(str(e)) from None
    if not (0 <= ctx.star_l <= ctx.star_m) or ctx.star_n < 1 or ctx.star_beta < 0:
        raise ConfigError(f"star-agents: need 0 <= star_l <= star_m, star_n >= 1 and star_beta >= 0 "
                          f"(got l={ctx.star_l}, m={ctx.star_m}, n={ctx.star_n}, beta={ctx.star_beta})")
    if ctx.star_large_model and ctx.star_large_model == ctx.policy:
        raise ConfigError("star_large_model is the policy itself: every IFD difference would be 0 and eq. 5 undefined; "
                          "name a stronger model, or leave it unset to rank candidates by the judge alone")
    for name in ("star_probabilities", "star_held_out"):
        if getattr(ctx, name) and not Path(getattr(ctx, name)).expanduser().is_file():
            raise ConfigError(f"{name}: {getattr(ctx, name)} is not a file")
    if min(ctx.star_rewrite_tokens, ctx.star_response_tokens, ctx.star_held_out_n) < 1:
        raise ConfigError("star_rewrite_tokens, star_response_tokens and star_held_out_n must be >= 1")


def check_self_improve(ctx: Context) -> None:
    """The self-improve (I-SHEEP) settings can work."""
    small = {n: getattr(ctx, n) for n in ("isheep_iterations", "isheep_data_size", "isheep_examples",
                                          "density_clusters", "density_per_cluster") if getattr(ctx, n) < 1}
    if small:
        raise ConfigError(", ".join(f"{n}={v}" for n, v in small.items()) + ": must be >= 1")
    if not 0 < ctx.isheep_max_rouge <= 1 or ctx.isheep_temperature < 0:
        raise ConfigError(f"isheep_max_rouge must be in (0, 1] (got {ctx.isheep_max_rouge}) and isheep_temperature "
                          f">= 0 (got {ctx.isheep_temperature})")
    if ctx.isheep_verify_keep < 0:
        raise ConfigError(f"isheep_verify_keep={ctx.isheep_verify_keep}: answers kept per task, >= 0 (0: every distinct one)")
    if not 1 <= ctx.assess_threshold <= 10:
        raise ConfigError(f"assess_threshold={ctx.assess_threshold}: ratings run from 1 to 10, so use 1-10")


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


def coerce(name: str, value, hint):
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
