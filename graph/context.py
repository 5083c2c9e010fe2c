"""Every runtime setting of a run, in one place. Nodes and tools read ``runtime.context``.

Each field has a one-line description; every field can be set from the command line
(``--set field=value``, ``--config run.yaml``) and is checked by ``Context.build``: an unknown
field, a value of the wrong type, an unknown choice, or a setting that would change nothing (a
curation step's parameter while that step is off) is a ``ConfigError`` that says what to do.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields

from graph.agents import DEFAULT_AGENTS, DEFAULT_BASE_PAIRS
from graph.options import (
    ALWAYS_READ,
    ANTICIPATED_CHECKS,
    ANTICIPATED_QUERIES,
    CURATION_STEPS,
    DTYPES,
    EXECUTORS,
    GATE_CHECKS,
    GATES,
    GROUNDING,
    ISHEEP_SETTINGS,
    JUDGE_MODES,
    READINGS,
    UPDATES,
    ConfigError,
    uses_update,
)
from llms.registry import DEFAULT_EMBEDDER, DEFAULT_POLICY, ads_home
from tools.table import COSTS, TOOL_NAMES


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
    retrieval_k: int | None = _f(None, describe="Passages information_retrieval returns a call after the dense rerank; None (auto): 300 where the held-out items carry answers and the update is icl-knn (a knowledge task: breadth chosen on three seeds' NQ validation splits), 10 elsewhere. Under a passage budget (passage_budget) a knowledge task's calls share observed x retrieval_k passages instead; the report counts the passages bought.")
    passage_budget: int | None = _f(None, describe="Passages a run's information_retrieval calls share, split evenly over the plan's retrieval calls (at most retrieval_k a call); the cost rule is then per passage (a call costs its price x its passages / retrieval_k, so a call of retrieval_k passages costs its price). None (auto): on a knowledge task (held-out items carry answers, update icl-knn) the rule's passages, observed instructions x retrieval_k (900: the optimizer's plan buys what the retrieval rule buys, spread over its questions; chosen on three seeds' NQ validation splits), elsewhere off; 0: off (each call returns retrieval_k and costs its price whatever it returns: the paper's per-call rule). In rounds > 1 each round's calls share a budget.")
    distinct_passages: bool = _f(True, describe="Under a passage budget (passage_budget): each information_retrieval call returns its share of passages that no earlier call of the run returned (the next best of its own ranking in place of a repeat), so the run pays for a passage once and buys as many distinct passages as it is charged for; off: a call returns its best passages, repeats included (the optimizer's 6 calls on one topic bought 566 to 783 distinct passages of 900 on the NQ test split).")
    bm25_candidates: int = _f(1000, describe="BM25 candidates handed to the dense reranker.")
    demonstrations_per_call: int = _f(2, describe="Instruction-response pairs demonstration_generation writes per call.")
    verify_samples: int = _f(8, describe="On a task with checks: responses demonstration_generation (and self-improve's respond stage) samples per instruction; those that pass every check are kept.")
    check_edits: bool = _f(True, describe="On a task with checks: a sample that fails a check prescribing a form a program can write (letter case, quotation marks, a <<title>>, JSON, an end phrase, no commas, N paragraphs, sections, bullets or highlights, the request repeated, a length cut) is edited into that form (scoring.edit) and verified again; kept only if it then passes every check (default on: chosen on the IFEval validation split). Used by demonstration_generation, self-improve's respond stage and Star-Agents' response agents.")
    demonstration_temperature: float = _f(0.7, describe="Sampling temperature of demonstration_generation and of self-improve's verified answers (above 0, so its samples differ).")
    qa_passages: int = _f(2, describe="Retrieved passages that ground question_answering when no teacher is set.")
    memory_k: int = _f(2, describe="Rows memory_search returns from the instruction memory bank.")
    apis: list = _f(describe="The APIs the optimizer may call: its prompt lists only these and the parser accepts only these.",
                    factory=lambda: list(TOOL_NAMES))
    tool_cache: bool = _f(True, describe="Answer repeated tool calls from the persistent cache (cache_path); --no-cache turns it off.")
    generation_cache: bool = _f(True, describe="Answer repeated generations and log-prob scores of every model from the persistent cache (generation_cache.sqlite beside cache_path); --no-cache turns it off.")
    costs: dict = _f(describe="Cost of one call of each API.", factory=lambda: dict(COSTS))
    max_calls: int = _f(6, describe="Most API calls the optimizer may make in a run.")
    anticipate: int = _f(3, describe="Questions the optimizer writes in the style of the observed instructions, never seeing a held-out item; on tasks whose held-out items carry answers each becomes an information_retrieval call of its plan (0: none).")
    anticipate_min_similarity: float = _f(0.0, describe="On tasks whose held-out items carry answers: an anticipated question whose embedding cosine (the run's embedder) to every observed instruction is below this is dropped as off the task's topic (\"what is the meaning of life\" on a task about law), and the next of the optimizer's samples on the topic takes its place; the report lists each drop with its similarity. 0 (the default): off. At 0.3 on three seeds' NQ validation splits it gained what the default gains (+7.4 points) at more cost (3.11 a task: where fewer questions are left, the optimizer's reply buys demonstrations), so it is not the default (docs/update-help.md). Tasks with checks anticipate instructions of any topic in a form, and keep them all.")
    plan_observed: bool = _f(True, describe="On tasks whose held-out items carry answers, the optimizer's plan starts with information_retrieval on each observed instruction (the retrieval rule's plan), then its anticipated questions, then the calls of its own reply.")
    anticipated_queries: str = _f("calls", choices=ANTICIPATED_QUERIES, also="plan_observed", describe="On tasks whose held-out items carry answers, how the plan buys the optimizer's anticipated questions: calls, each its own information_retrieval call after the observed instructions' (under the passage budget the 6 calls share the rule's 900 passages); expand, each appended to the query of the observed instruction most like it (ROUGE-L; query expansion), so the plan makes the rule's calls and buys as many passages, drawn toward what the optimizer anticipates (one that would take a query past max_arg_chars is its own call). calls is the default: on NQ validation seeds 0 and 1 it gained +12.9 points a seed at the rule's passages, expand +11.4, spending its spare budget on demonstrations (docs/update-help.md).")
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
    curation: list = _f(describe=f"Curation steps in order (graph/improve/curate.py), after empty rows are dropped: any of {', '.join(CURATION_STEPS)}.",
                        factory=lambda: ["dedupe", "verify", "grounded"])
    grounding: str = _f("auto", choices=GROUNDING, step="grounded", describe="Step grounded: on drops every instruction-response row whose response states facts (names, numbers) found in no passage the run bought (teacher answers and passage-grounded QA pass; a row that states no fact, a format, passes); auto: on where the held-out items carry answers.")
    min_judge_score: float = _f(0.0, step="judge", describe="Step judge: keep rows whose judge score (0..1) is at least this; unrated rows are kept.")
    assess_threshold: int = _f(8, step="isheep", also=ALWAYS_READ, describe="Step isheep, and self-improve's select stage: keep pairs the judge rates at least this (1-10) for both quality and following.")
    max_perplexity: float = _f(50.0, step="perplexity", also="isheep_perplexity", describe="Step perplexity, and self-improve with isheep_perplexity: drop pairs whose response perplexity given the instruction exceeds this (I-SHEEP: 50).")
    min_ifd: float = _f(0.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is at least this.")
    max_ifd: float = _f(1.0, step="ifd", describe="Step ifd: keep pairs whose IFD on the policy is below this (Cherry LLM: 1).")
    large_model: str | None = _f(None, step="star", describe="Step star: the stronger model of the dual-model IFD (Star-Agents eq. 5); rows scoring judge x dual IFD <= min_star_score are dropped.")
    min_star_score: float = _f(0.0, step="star", describe="Step star: keep rows whose composite score (judge x dual IFD) exceeds this.")
    min_relevance: float = _f(0.3, step="relevance", describe="Step relevance: keep rows whose embedding similarity (cosine) to the nearest observed instruction is at least this.")
    # -- update and measurement -----------------------------------------------------------
    update: str = _f("auto", choices=UPDATES, describe="How the policy is updated with the curated data: icl (all rows packed into the context), icl-knn (per question, the most similar rows above knn_min_similarity, else no context), sft (LoRA), or auto: sft where the task carries checks (its verified rows teach a form; recipe: sft_recipe), icl-knn otherwise (chosen on the dev suites' validation splits, docs/results.md).")
    knn_min_similarity: float = _f(0.4, update="icl-knn", describe="icl-knn: rows less similar (embedding cosine) than this to a question are never put in its context.")
    knn_min_overlap: float = _f(0.34, update="icl-knn", describe="icl-knn, where the held-out items carry answers: a row must also hold at least this share of the question's content words (stopwords left out) to enter its context: an agreement check against passages on a neighbouring subject (docs/update-help.md). 0: off.")
    knn_context_overlap: float = _f(0.5, update="icl-knn", describe="icl-knn, where the held-out items carry answers: a question's packed context as a whole must hold at least this share of the question's content words (stopwords and question words left out), else the question is asked bare: a context naming too few of its terms cost more answers than it gave (docs/update-help.md). 0: off.")
    knn_answer_support: float = _f(0.3, update="icl-knn", describe="icl-knn, where the held-out items carry answers: an answer given with a context must draw at least this share of its content words (those not in the question) from that context, else the policy's answer without the context is kept: an answer the passages do not support (it talks about the passages, or names something they do not) cost more answers than it gave (docs/update-help.md). 0: off.")
    knn_rows: int | None = _f(4, update="icl-knn", describe="icl-knn: at most this many rows (the most similar) in a question's context; None: as many as fit the token budget.")
    anticipated_checks: str = _f("nearest", choices=ANTICIPATED_CHECKS, describe="On a task whose observed instructions carry checks, the checks an anticipated instruction (a verified demonstration_generation call) is stated and verified with: nearest, every check of the observed instruction most like it (IFEval's second checks too: its keywords, letters, counts); type, only those of its checks that every observed instruction carries (the task's instruction type; the nearest's whole set where they share none). The task's own checks are added either way. A second check with no edit (keywords) fails most samples of a 135M policy and teaches its parameters, not the task's constraint. nearest is the default; type is not measured on validation yet (docs/checks.md).")
    gate: str = _f("gain", choices=GATES, describe="On a task with checks: after the update, the run writes gate_items new instructions in the style of the observed ones (never bought, never trained on, each with the checks of its nearest observed instruction, see gate_checks) and asks them of the policy before and after the update, scored by the checks; gain keeps the update only if it passes more of them, strict only if it passes more and fails none the policy before it passed, no-loss only if it passes no fewer, off always keeps it. A set-aside update leaves the policy as it was. gain is the default: on the IFEval validation split it kept the one task the update helped (7 gained) and set aside the two that lost 2 items each (docs/checks.md).")
    gate_items: int = _f(8, describe="Instructions the gate (see gate) writes and asks on a task with checks.")
    gate_checks: str = _f("observed", choices=GATE_CHECKS, describe="The checks each gate instruction carries: observed, those of its nearest observed instruction as they are (the keywords, letters and counts the update's rows were verified on); redrawn, the same checks with parameters lm-eval draws afresh (seeded), as held-out items ask the same constraint with others. The task's own checks are never redrawn. observed is the default: on 4 IFEval validation tasks redrawn decided the same on three and kept one that gained 1 and lost 1 (docs/results.md).")
    sft_min_rows: int = _f(15, describe="improve: a LoRA SFT update on fewer curated rows than this is not made (the policy stays as it was, the report says why): a handful of rows that passed a check by chance is memorised, not learned. 0: off. 15 was chosen on the IFEval validation split, seeds 0 to 2, among 0, 5, 10, 15, 20: the same net gain as 0 to 10 with one loss fewer (docs/results.md, Too few rows).")
    icl_token_budget: int = _f(1024, describe="Tokens of curated data packed into the policy's context (icl).")
    sft_recipe: str | None = _f(None, describe="YAML recipe for LoRA SFT. None: recipes/sft_lora_small.yaml where improve's task carries checks or self-improve's rows do (tens of verified rows, one a step), else recipes/sft_lora.yaml.")
    eval_max_new_tokens: int = _f(64, describe="Longest answer of the original and the updated policy on a held-out instruction (one with checks: checks_max_new_tokens).")
    checks_max_new_tokens: int = _f(512, describe="Longest answer to an instruction with checks: both policies' held-out answers, verified demonstrations and self-improve's verified answers. IFEval's length, paragraph and ending constraints need room (lm-eval gives 1280); at 64 tokens a '300+ words' item cannot pass.")
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
    isheep_verify_keep: int = _f(2, describe="Self-improve with checks: distinct verified answers kept per task, each a row (0: every one; ReST-EM keeps several, capped so easy tasks do not crowd out hard ones).")
    isheep_examples: int = _f(6, describe="Self-improve: seed tasks shown in each instruction-generation prompt.")
    isheep_temperature: float = _f(0.7, describe="Self-improve: sampling temperature of instruction generation (responses use temperature).")
    isheep_max_rouge: float = _f(0.7, describe="Self-improve: drop a generated instruction whose ROUGE-L F with a seed or an earlier instruction exceeds this (Self-Instruct: 0.7).")
    isheep_perplexity: bool = _f(False, describe="Self-improve: also drop pairs whose response perplexity on the current model exceeds max_perplexity.")
    isheep_density: bool = _f(False, describe="Self-improve: also thin dense regions: k-means over embeddings (embedder), a seeded sample of density_per_cluster from each of density_clusters clusters.")
    density_clusters: int = _f(8, also="isheep_density", describe="Self-improve with isheep_density: k-means clusters over the selected pairs' embeddings.")
    density_per_cluster: int = _f(4, also="isheep_density", describe="Self-improve with isheep_density: pairs kept from each cluster (a seeded sample).")
    # -- refine (learning the optimizer) ---------------------------------------------------
    refine_samples: int = _f(5, describe="Refine: sampled optimizer trajectories per training task and iteration (K), besides the default ones (3; under refine_pairs=controlled only those a pair can be drawn from).")
    refine_temperature: float = _f(0.8, describe="Refine: sampling temperature of the optimizer's trajectories (above 0, so they differ).")
    cost_tier: float = _f(0.1, describe="Refine: the cost tier tau of pair selection (chosen: cheapest in the top tier; rejected: costliest in the bottom tier).")
    refine_pairs: str = _f("all", choices=("all", "controlled"), describe="Refine: which trajectories of a task a pair is drawn from. all (Algorithm 1): every one, the three default plans included; no pair when their rewards tie. controlled: those that differ in what the optimizer controls, its sampled trajectories and, on a knowledge task, the retrieval rule's plan (anticipating nothing); where their rewards tie, the cheapest against the costliest; the other default plans are then not gathered at all (3 of 8 trajectories a task fewer on a task with checks or a judge task, 2 on a knowledge task, at K=5). With all, the rejected side was the question-answering default in 17 of 18 NQ pairs (docs/refine.md).")
    refine_iterations: int = _f(1, describe="Refine: DPO iterations after the rejection-sampling one.")
    refine_steps: int = _f(-1, describe="Refine: training steps of the optimizer per iteration; -1: the recipe's epochs.")
    optimizer_sft_recipe: str | None = _f(None, describe="Refine: LoRA SFT recipe of the rejection-sampling iteration (default recipes/sft_lora.yaml).")
    optimizer_dpo_recipe: str | None = _f(None, describe="Refine: LoRA DPO recipe of the later iterations (default recipes/dpo_lora.yaml).")
    # -- run ------------------------------------------------------------------------------
    run_dir: str = _f("runs/latest", describe="Folder for trajectory.json, dataset.jsonl, report.json/md, adapters.")
    checkpoint_uri: str | None = _f(None, describe="Where a run's units (evaluate's cells, refine's trajectories and validations) are checkpointed: None: SQLite files in run_dir; postgresql://USER:PASSWORD@HOST:PORT/DB: that database, which every machine of a Ray cluster reaches (a graph command whose --db is such a URI sets it). Needs the distributed extra.")
    # -- executor (docs/scale.md) ------------------------------------------------------------
    executor: str = _f("local", choices=EXECUTORS, describe="How unit-shaped work runs (evaluate's cells; refine's trajectories and rewards): local, one unit after another in this process; ray, each unit a Ray task. The same seeds give the same report either way.")
    ray_address: str | None = _f(None, describe="executor=ray: the Ray cluster (auto: the one this machine joined with ray start; HOST:PORT; ray://HOST:10001); None: a local cluster of ray_workers units, started and stopped with the run.")
    ray_workers: int = _f(2, describe="executor=ray without ray_address: units at once on the local cluster (it gets ray_workers x unit_cpus CPUs and unit_gpus x ray_workers GPUs).")
    unit_cpus: float = _f(1.0, describe="executor=ray: CPUs each unit holds (its Ray task's num_cpus, and its torch threads).")
    unit_gpus: float = _f(0.0, describe="executor=ray: GPUs each unit holds (num_gpus; a fraction shares one GPU). 0 where models are reached through endpoints (openai: specs at vllm serve).")
    unit_retries: int = _f(3, describe="executor=ray: times a unit whose worker died (killed, out of memory, node lost) runs again; it resumes from its own checkpoint.")
    ray_setup: str | None = _f(None, describe="executor=ray: MODULE:FUNCTION each Ray worker calls before its first unit, e.g. to register your own model backends (llms.register_backend) or tools.")
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
        from graph.checks import coerce

        ctx = cls(**{k: coerce(k, v, hints[k]) for k, v in values.items()})
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
            if f.name not in changes and ((step and step not in curation) or (update and not uses_update(values.get("update"), update))):
                values[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        return Context.build(values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> "Context":
        """Raise ConfigError for a value that cannot work or a setting that would change nothing
        (graph/checks.py)."""
        from graph.checks import check

        check(self)
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
