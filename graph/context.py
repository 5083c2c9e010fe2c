"""Every runtime setting of a run, in one place. Nodes and tools read ``runtime.context``.

Each field has a one-line description; the CLI fills them from its options (and env vars).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from llms.registry import DEFAULT_EMBEDDER, DEFAULT_POLICY, ads_home

DEFAULT_COSTS = {
    "information_retrieval": 1.0,
    "demonstration_generation": 2.0,
    "question_answering": 3.0,
    "memory_search": 1.0,
}


@dataclass(kw_only=True)
class Context:
    # -- models ---------------------------------------------------------------------------
    policy: str = field(default=DEFAULT_POLICY, metadata={"description": "Model spec of the policy being improved."})
    optimizer: str = field(default=DEFAULT_POLICY, metadata={"description": "Model spec of the optimizer that plans API calls."})
    teacher: str | None = field(default=None, metadata={"description": "Stronger model spec for question_answering; None: the policy answers grounded in retrieved passages (and says so)."})
    judge: str = field(default=DEFAULT_POLICY, metadata={"description": "Model spec of the pairwise judge."})
    judge_mode: str = field(default="auto", metadata={"description": "auto | pairwise | reward | verify: how held-out gain is decided (auto: verify when the task carries answers/checks)."})
    reward_model: str | None = field(default=None, metadata={"description": "Sequence-classification reward model (name or path) for judge_mode=reward."})
    tie_margin: float = field(default=0.0, metadata={"description": "Reward-score difference under which a comparison is a tie."})
    embedder: str = field(default=DEFAULT_EMBEDDER, metadata={"description": "Dense embedder for reranking and the memory bank (packaged name, path or hub name)."})
    dtype: str | None = field(default=None, metadata={"description": "Model dtype (float32 | bfloat16); None: float32 on CPU, bfloat16 on GPU."})
    # -- data-collecting APIs -------------------------------------------------------------
    corpus: str = field(default="wiki-offline", metadata={"description": "Retrieval corpus: a built index name or folder (python cli.py corpus build)."})
    retrieval_k: int = field(default=1, metadata={"description": "Passages information_retrieval returns after the dense rerank."})
    bm25_candidates: int = field(default=1000, metadata={"description": "BM25 candidates handed to the dense reranker."})
    demonstrations_per_call: int = field(default=2, metadata={"description": "Instruction-response pairs demonstration_generation writes per call."})
    demonstration_temperature: float = field(default=0.7, metadata={"description": "Sampling temperature of demonstration_generation (above 0, so its samples differ)."})
    qa_passages: int = field(default=2, metadata={"description": "Retrieved passages that ground question_answering when no teacher is set."})
    memory_k: int = field(default=2, metadata={"description": "Rows memory_search returns from the instruction memory bank."})
    tool_cache: bool = field(default=True, metadata={"description": "Answer repeated tool calls from the persistent cache (cache_path)."})
    costs: dict = field(default_factory=lambda: dict(DEFAULT_COSTS), metadata={"description": "Cost of one call of each API."})
    max_calls: int = field(default=6, metadata={"description": "Most API calls the optimizer may make in a run."})
    max_cost: float = field(default=12.0, metadata={"description": "Most total API cost the optimizer may spend in a run."})
    max_arg_chars: int = field(default=500, metadata={"description": "Longest accepted API argument; longer ones are tool errors."})
    cache_path: str = field(default_factory=lambda: str(ads_home() / "tool_cache.sqlite"), metadata={"description": "Persistent tool-call cache (SQLite)."})
    memory_path: str = field(default_factory=lambda: str(ads_home() / "memory"), metadata={"description": "Chroma instruction memory bank folder."})
    # -- generation -----------------------------------------------------------------------
    temperature: float = field(default=0.0, metadata={"description": "Sampling temperature of the policy and tools (0: greedy)."})
    max_new_tokens: int = field(default=256, metadata={"description": "Longest generation of any model call."})
    seed: int = field(default=0, metadata={"description": "Seed for sampling and data splits."})
    batch_size: int = field(default=8, metadata={"description": "Prompts per batched generation."})
    parse_retries: int = field(default=2, metadata={"description": "Times an unparsable optimizer reply is retried before it is recorded."})
    # -- curation and update --------------------------------------------------------------
    update: str = field(default="icl", metadata={"description": "icl | sft: how the policy is updated with the curated data."})
    icl_token_budget: int = field(default=1024, metadata={"description": "Tokens of collected data packed into the policy's context (icl)."})
    min_judge_score: float = field(default=0.0, metadata={"description": "Curated rows need at least this judge score (0..1)."})
    assess_threshold: int = field(default=8, metadata={"description": "I-SHEEP self-assessment: keep pairs rated at least this (1-10) for quality and following."})
    max_perplexity: float | None = field(default=None, metadata={"description": "Drop pairs whose response perplexity given the instruction exceeds this (I-SHEEP: 50); None: no perplexity filter."})
    large_model: str | None = field(default=None, metadata={"description": "Stronger model spec for the dual-model IFD (Star-Agents eq. 5); None: plain IFD of the policy."})
    sft_recipe: str | None = field(default=None, metadata={"description": "YAML recipe for LoRA SFT (default: recipes/sft_lora.yaml)."})
    # -- run ------------------------------------------------------------------------------
    run_dir: str = field(default="runs/latest", metadata={"description": "Folder for trajectory.json, dataset.jsonl, report.json/md, adapters."})
    step: bool = field(default=False, metadata={"description": "Pause before every tool call (LangGraph interrupt): approve, edit the argument, skip or quit."})
    eval_max_new_tokens: int = field(default=64, metadata={"description": "Longest answer of the original and the updated policy on a held-out instruction."})
    prompts: dict = field(default_factory=dict, metadata={"description": "Overrides of graph/prompts.py constants, by name."})

    @classmethod
    def describe(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("description", "") for f in fields(cls)}

    def prompt(self, name: str) -> str:
        from graph import prompts

        return self.prompts.get(name) or getattr(prompts, name)
