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
from graph.star_agents_pairs import DEFAULT_AGENTS, DEFAULT_BASE_PAIRS
from tools.table import COSTS, TOOL_NAMES

CURATION_STEPS = ("dedupe", "judge", "isheep", "perplexity", "ifd", "star", "relevance", "format")
UPDATES = ("icl", "icl-knn", "sft")
JUDGE_MODES = ("auto", "pairwise", "reward", "verify")
DTYPES = ("float32", "bfloat16", "float16")
READINGS = ("auto", "logprobs", "tokens", "text")


class ConfigError(ValueError):
    """A setting cannot be used; the message names it and says what to do."""


ALWAYS_READ = "self-improve"  # ``also=``: the self-improve graph reads this setting on every run
ISHEEP_SETTINGS = ("one_base", "one_last", "total_base")


def _f(default=dataclasses.MISSING, *, describe: str, factory=None, choices=None, step: str | None = None,
       update: str | None = None, also: str | None = None):
    # step / update: the curation step or update kind the setting belongs to; set while that step
    # is off (or another update is chosen) it would change nothing, so Context.check refuses it.
    # also: another reader of the setting: a bool switch field (the setting counts while that is
    # on), or ALWAYS_READ (a graph that reads it on every run, so the step rule cannot refuse it)
    meta = {"description": describe, "choices": choices, "step": step, "update": update, "also": also}
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
    max_cost: float = _f(12.0, describe="Most total API cost the optimizer may spend in a run (in each round, with rounds > 1).")
    rounds: int = _f(1, describe="Self-improvement rounds: each round the optimizer sees the policy's current answers and the rounds before, buys more data, and the policy is updated on all of it; a round that brings no gain on a validation third of the held-out items ends the run.")
    max_total_cost: float | None = _f(None, describe="Most API cost of all rounds together; None: rounds x max_cost.")
    stop_without_gain: bool = _f(True, describe="With rounds > 1: end the run when a round brings no gain on the validation items (and keep the update before it).")
    round_sft: str = _f("continue", choices=("continue", "retrain"), describe="With update=sft and rounds > 1: continue the last round's adapter on the new rows, or retrain from the base on all rows.")
    max_arg_chars: int = _f(500, describe="Longest accepted API argument; longer ones are tool errors.")
    cache_path: str = _f(describe="Persistent tool-call cache (SQLite).", factory=lambda: str(ads_home() / "tool_cache.sqlite"))
    memory_path: str = _f(describe="Chroma instruction memory bank folder.", factory=lambda: str(ads_home() / "memory"))
    # -- generation -----------------------------------------------------------------------
    temperature: float = _f(0.0, describe="Sampling temperature of the policy's answers, QA and (unless optimizer_temperature is set) the optimizer's first reply (0: greedy).")
    optimizer_temperature: float | None = _f(None, describe="Sampling temperature of the optimizer's first reply; None: temperature. Refine samples trajectories with it.")
    max_new_tokens: int = _f(256, describe="Longest generation of the optimizer and the tools.")
    seed: int = _f(0, describe="Seed for sampling and data splits.")
    batch_size: int = _f(8, describe="Prompts per batched generation or scoring pass.")
    parse_retries: int = _f(2, describe="Times an unparsable optimizer reply is retried before it is recorded.")
    # -- curation -------------------------------------------------------------------------
    curation: list = _f(describe=f"Curation steps in order (graph/curate.py), after empty rows are dropped: any of {', '.join(CURATION_STEPS)}.",
                        factory=lambda: ["dedupe", "judge"])
    min_judge_score: float = _f(0.0, step="judge", describe="Step judge: keep rows whose judge score (0..1) is at least this; unrated rows are kept.")
    assess_threshold: int = _f(8, step="isheep", also=ALWAYS_READ, describe="Step isheep, and self-improve's select stage: keep pairs the judge rates at least this (1-10) for both quality and following.")
    max_perplexity: float = _f(50.0, step="perplexity", also="isheep_perplexity", describe="Step perplexity, and self-improve with isheep_perplexity: drop pairs whose response perplexity given the instruction exceeds this (I-SHEEP: 50).")
    min_ifd: float = _f(0.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is at least this.")
    max_ifd: float = _f(1.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is below this (Cherry LLM: 1).")
    large_model: str | None = _f(None, step="star", describe="Step star: the stronger model of the dual-model IFD (Star-Agents eq. 5); rows scoring judge x dual IFD <= min_star_score are dropped.")
    min_star_score: float = _f(0.0, step="star", describe="Step star: keep rows whose composite score (judge x dual IFD) exceeds this.")
    min_relevance: float = _f(0.3, step="relevance", describe="Step relevance: keep rows whose embedding similarity (cosine) to the nearest observed instruction is at least this.")
    # -- update and measurement -----------------------------------------------------------
    update: str = _f("icl", choices=UPDATES, describe="How the policy is updated with the curated data: icl (all rows packed into the context), icl-knn (per question, the most similar rows above knn_min_similarity, else no context) or sft (LoRA).")
    knn_min_similarity: float = _f(0.5, update="icl-knn", describe="icl-knn: rows less similar (embedding cosine) than this to a question are never put in its context.")
    icl_token_budget: int = _f(1024, describe="Tokens of curated data packed into the policy's context (icl).")
    sft_recipe: str | None = _f(None, describe="YAML recipe for LoRA SFT (default: recipes/sft_lora.yaml).")
    eval_max_new_tokens: int = _f(64, describe="Longest answer of the original and the updated policy on a held-out instruction.")
    judge_max_new_tokens: int = _f(512, describe="Longest reply of the pairwise judge.")
    measure: bool = _f(True, describe="Measure the update on the held-out instructions; refine turns it off and measures all trajectories of a task in shared batches.")
    memory_min_score: float | None = _f(None, describe="improve: curated pair rows whose score (the judge's, 0..1) is at least this go into the memory bank (memory_path), so memory_search returns them later; None: improve never writes the bank.")
    # -- star-agents (python cli.py star-agents) ------------------------------------------
    star_agents: dict = _f(describe="Star-Agents agents by name: {role: instruction|response, kind: model|seed (seed: hand on the seed's own text), model: spec (null: the policy), prompt: its system prompt's name in graph/prompts.py, temperature, top_p}.",
                           factory=lambda: {k: dict(v) for k, v in DEFAULT_AGENTS.items()})
    star_base_pairs: list = _f(describe="Agent pairs INSTRUCTION+RESPONSE called for every seed; the judge compares every other candidate with the first one's sample.",
                               factory=lambda: list(DEFAULT_BASE_PAIRS))
    star_m: int = _f(2, describe="Agent pairs sampled per seed besides the base pairs (M).")
    star_l: int = _f(1, describe="Of the M, at most this many come from the pairs that wrote the seed's nearest memory-bank rows (l); the rest from the global p_jk.")
    star_n: int = _f(3, describe="Memory-bank neighbours of each seed instruction whose agent pairs may be sampled (n).")
    star_beta: float = _f(0.1, describe="Probability update after each seed: p_jk of the kept row's pair += beta x its score, then renormalised.")
    star_probabilities: str | None = _f(None, describe="JSON file of p_jk to start from (a run's probabilities.json); None: uniform.")
    star_large_model: str | None = _f(None, describe="The stronger model of the dual-model IFD (Star-Agents eq. 5); None: no dual IFD, candidates are ranked by the judge's verdict alone (reported as score_kind judge).")
    star_memory_min_score: float = _f(0.5, describe="Kept rows scoring at least this go into the memory bank with their agent pair, score and tags.")
    star_rewrite_tokens: int = _f(96, describe="Longest instruction an instruction agent writes.")
    star_response_tokens: int = _f(192, describe="Longest response a response agent writes.")
    star_held_out: str | None = _f(None, describe="File of held-out instructions (JSONL/JSON rows with instruction, Instruction or turns); set: LoRA SFT on the curated vs the seed vs random candidates, judged on them (eval/eval_report.md).")
    star_held_out_n: int = _f(10, describe="Held-out instructions used from star_held_out (the first N).")
    # -- self-improve (I-SHEEP: python cli.py self-improve) ----------------------------------
    isheep_iterations: int = _f(3, describe="Self-improve: iterations of generate -> filter -> respond -> assess -> select -> train -> evaluate.")
    isheep_data_size: int = _f(64, describe="Self-improve: instructions the current model generates per iteration, before any filter.")
    isheep_setting: str = _f("one_base", choices=ISHEEP_SETTINGS, describe="Self-improve: what each iteration trains: one_base (the base policy on this iteration's data; the paper's best), one_last (the last model further on this iteration's data), total_base (the base on all data so far).")
    isheep_examples: int = _f(6, describe="Self-improve: seed tasks shown in each instruction-generation prompt.")
    isheep_temperature: float = _f(0.7, describe="Self-improve: sampling temperature of instruction generation (responses use temperature).")
    isheep_max_rouge: float = _f(0.7, describe="Self-improve: drop a generated instruction whose ROUGE-L F with a seed or an earlier instruction exceeds this (Self-Instruct: 0.7).")
    isheep_perplexity: bool = _f(False, describe="Self-improve: also drop pairs whose response perplexity on the current model exceeds max_perplexity.")
    isheep_density: bool = _f(False, describe="Self-improve: also thin dense regions: k-means over embeddings (embedder), a seeded sample of density_per_cluster from each of density_clusters clusters.")
    density_clusters: int = _f(8, also="isheep_density", describe="Self-improve with isheep_density: k-means clusters over the selected pairs' embeddings.")
    density_per_cluster: int = _f(4, also="isheep_density", describe="Self-improve with isheep_density: pairs kept from each cluster (a seeded sample).")
    # -- refine (learning the optimizer) ---------------------------------------------------
    refine_samples: int = _f(5, describe="Refine: sampled optimizer trajectories per training task and iteration (K), besides the 3 default ones.")
    refine_temperature: float = _f(0.8, describe="Refine: sampling temperature of the optimizer's trajectories (above 0, so they differ).")
    cost_tier: float = _f(0.1, describe="Refine: the cost tier tau of pair selection (chosen: cheapest in the top tier; rejected: costliest in the bottom tier).")
    refine_iterations: int = _f(1, describe="Refine: DPO iterations after the rejection-sampling one.")
    refine_steps: int = _f(-1, describe="Refine: training steps of the optimizer per iteration; -1: the recipe's epochs.")
    optimizer_sft_recipe: str | None = _f(None, describe="Refine: LoRA SFT recipe of the rejection-sampling iteration (default recipes/sft_lora.yaml).")
    optimizer_dpo_recipe: str | None = _f(None, describe="Refine: LoRA DPO recipe of the later iterations (default recipes/dpo_lora.yaml).")
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

    def variant(self, **changes) -> "Context":
        """This Context with ``changes`` (e.g. another update or curation), where the settings of a
        step or update the variant does not use go back to their defaults instead of being refused."""
        values = {**self.to_dict(), **changes}
        curation = values.get("curation") or []
        curation = [s.strip() for s in curation.split(",")] if isinstance(curation, str) else curation
        for f in fields(self):
            step, update = f.metadata.get("step"), f.metadata.get("update")
            if f.name not in changes and ((step and step not in curation) or (update and update != values.get("update"))):
                values[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        return Context.build(values)

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
            step, update, also = f.metadata.get("step"), f.metadata.get("update"), f.metadata.get("also")
            default = f.default if f.default is not dataclasses.MISSING else None
            read_elsewhere = also == ALWAYS_READ or bool(also and getattr(self, also))
            if step and step not in self.curation and not read_elsewhere and getattr(self, f.name) != default:
                raise ConfigError(f"{f.name} is a setting of the curation step '{step}', which is off: add it "
                                  f"(--set curation={','.join([*self.curation, step])})"
                                  + (f", or in self-improve turn on {also} (--set {also}=true)," if also else "")
                                  + f" or leave {f.name} unset")
            if also and not step and not read_elsewhere and getattr(self, f.name) != default:
                raise ConfigError(f"{f.name} is a setting of {also}, which is off: --set {also}=true or leave {f.name} unset")
            if update and update != self.update and getattr(self, f.name) != default:
                raise ConfigError(f"{f.name} is a setting of the update '{update}', not of update={self.update}: "
                                  f"use --update {update} or leave {f.name} unset")
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
        if self.rounds < 1:
            raise ConfigError(f"rounds must be >= 1, not {self.rounds}")
        if self.rounds == 1 and (self.max_total_cost is not None or self.round_sft != "continue" or not self.stop_without_gain):
            raise ConfigError("max_total_cost, round_sft and stop_without_gain are settings of runs with rounds > 1: "
                              "set --rounds N")
        if self.max_cost < 0 or self.icl_token_budget < 0 or self.parse_retries < 0:
            raise ConfigError("max_cost, icl_token_budget and parse_retries must be >= 0")
        check_prompts(self.prompts)
        check_star_agents(self)
        check_self_improve(self)
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


def check_star_agents(ctx: Context) -> None:
    """The Star-Agents settings can work: agents, base pairs, M >= l >= 0, a large model that differs from the policy."""
    from pathlib import Path

    from graph import prompts
    from graph.star_agents_pairs import AgentError, check_base_pairs, parse_agents

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
