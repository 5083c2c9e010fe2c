"""Star-Agents' agents, agent pairs and their sampling probabilities p_jk: pure functions.

An agent is a named role: an instruction rewriter (A_I) or a response writer (A_R). A pair
``"I+R"`` rewrites a seed instruction with A_I and answers the new instruction with A_R. An agent
of kind ``seed`` does no generation: it hands on the seed's own instruction (or response), so the
pair ``keep+seed`` is the seed row itself.

Per seed, the base pairs are always called; M more pairs are drawn without replacement: up to l
from the pairs that produced the seed's nearest memory-bank rows (weighted by how many of those
rows each produced), the rest from the global p_jk. After a seed, the pair of the kept row moves:
``p_jk += beta x score``, floored at ``P_FLOOR`` (a negative score can push it below zero, and a
pair that can never be drawn again could never recover), then renormalised.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from records.errors import AdsError

P_FLOOR = 1e-3  # no pair's probability falls below this (before renormalising)
ROLES = ("instruction", "response")
KINDS = ("model", "seed")

# The CPU default: one small instruct model, so the agents differ by system prompt and sampling
# only; give `model` specs (openai:/vllm:/local:) for agents that are really different models.
DEFAULT_AGENTS = {
    "keep": {"role": "instruction", "kind": "seed"},
    "clarify": {"role": "instruction", "prompt": "STAR_SYSTEM_CLARIFY", "temperature": 0.7},
    "deepen": {"role": "instruction", "prompt": "STAR_SYSTEM_DEEPEN", "temperature": 0.7},
    "seed": {"role": "response", "kind": "seed"},
    "plain": {"role": "response", "prompt": "STAR_SYSTEM_PLAIN", "temperature": 0.0},
    "expert": {"role": "response", "prompt": "STAR_SYSTEM_EXPERT", "temperature": 0.7},
    "steps": {"role": "response", "prompt": "STAR_SYSTEM_STEPS", "temperature": 0.7},
}
DEFAULT_BASE_PAIRS = ["keep+seed"]


class AgentError(AdsError, ValueError):
    """Agents or pairs that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Agent:
    name: str
    role: str  # "instruction" | "response"
    kind: str = "model"  # "model": generates; "seed": hands on the seed's own text
    model: str | None = None  # model spec; None: the policy
    prompt: str | None = None  # name of its system prompt in graph/prompts.py
    temperature: float = 0.7
    top_p: float = 1.0


def parse_agents(spec: dict, prompt_names=()) -> dict[str, Agent]:
    """``{name: {role, kind?, model?, prompt?, temperature?, top_p?}}`` -> Agents, checked."""
    if not isinstance(spec, dict) or not spec:
        raise AgentError("star_agents: give a mapping of agent name -> {role: instruction|response, prompt, ...}")
    agents = {}
    for name, a in spec.items():
        if "+" in name or not isinstance(a, dict):
            raise AgentError(f"star_agents.{name}: a name without '+', mapped to {{role, prompt, temperature, ...}}")
        unknown = set(a) - {"role", "kind", "model", "prompt", "temperature", "top_p"}
        if unknown:
            raise AgentError(f"star_agents.{name}: unknown key(s) {sorted(unknown)}; use role, kind, model, prompt, temperature, top_p")
        agent = Agent(name=name, **a)
        if agent.role not in ROLES or agent.kind not in KINDS:
            raise AgentError(f"star_agents.{name}: role must be one of {ROLES} and kind one of {KINDS}")
        if agent.kind == "model" and (not agent.prompt or (prompt_names and agent.prompt not in prompt_names)):
            raise AgentError(f"star_agents.{name}: a model agent needs 'prompt', the name of its system prompt in "
                             f"graph/prompts.py (got {agent.prompt!r})")
        if not (agent.temperature >= 0 and 0 < agent.top_p <= 1):
            raise AgentError(f"star_agents.{name}: temperature must be >= 0 and top_p in (0, 1]")
        agents[name] = agent
    for role in ROLES:
        if not any(a.role == role for a in agents.values()):
            raise AgentError(f"star_agents: no {role} agent; give at least one")
    return agents


def valid_pairs(agents: dict[str, Agent]) -> list[str]:
    """Every ``I+R`` pair, except a seed response under a rewritten instruction (it answers another question)."""
    return [f"{i.name}+{r.name}" for i in agents.values() if i.role == "instruction"
            for r in agents.values() if r.role == "response" and not (r.kind == "seed" and i.kind != "seed")]


def split_pair(pair: str) -> tuple[str, str]:
    i, _, r = pair.partition("+")
    return i, r


def check_base_pairs(base: list, agents: dict[str, Agent]) -> list[str]:
    pairs = valid_pairs(agents)
    bad = [b for b in base if b not in pairs]
    if not base or bad:
        raise AgentError(f"star_base_pairs: name one or more pairs INSTRUCTION_AGENT+RESPONSE_AGENT of "
                         f"{', '.join(pairs)}" + (f" (not a pair: {', '.join(map(str, bad))})" if bad else ""))
    return list(base)


def sampled_pairs(agents: dict[str, Agent], base: list[str]) -> list[str]:
    """The pairs that carry a probability: every valid pair but the base pairs (always called)."""
    return [p for p in valid_pairs(agents) if p not in base]


def initial_probabilities(pairs: list[str], start: dict | None = None) -> dict[str, float]:
    """Uniform, or ``start`` (a previous run's probabilities) renormalised over ``pairs``; a pair
    ``start`` does not name gets the uniform share."""
    if not pairs:
        return {}
    start = start or {}
    raw = {p: max(float(start.get(p, 1.0 / len(pairs))), P_FLOOR) for p in pairs}
    total = sum(raw.values())
    return {p: v / total for p, v in raw.items()}


def update_probabilities(probs: dict[str, float], pair: str, score: float, beta: float,
                         floor: float = P_FLOOR) -> dict[str, float]:
    """p[pair] += beta x score (at least ``floor``), then every p divided by the new total."""
    if pair not in probs:
        raise KeyError(f"{pair!r} has no probability (pairs: {', '.join(probs)})")
    raw = dict(probs)
    raw[pair] = max(raw[pair] + beta * score, floor)
    total = sum(raw.values())
    return {p: v / total for p, v in raw.items()}


def draw(weights: dict[str, float], u: float) -> str:
    """The key where the running total of ``weights`` (in order) first exceeds ``u`` x their sum."""
    if not weights:
        raise ValueError("nothing to draw from")
    target, running = u * sum(weights.values()), 0.0
    for key, w in weights.items():
        running += w
        if running > target:
            return key
    return key  # u == 1.0 or rounding: the last one


def sample_pairs(probs: dict[str, float], memory_pairs: list[str], m: int, l: int, rng) -> list[tuple[str, str]]:
    """M distinct pairs as ``(pair, "memory" | "global")``: up to ``l`` from ``memory_pairs`` (each
    weighted by how often it occurs there; pairs without a probability are ignored), the rest from
    ``probs``. ``rng.random()`` gives each draw's uniform number."""
    chosen: list[tuple[str, str]] = []
    memory = Counter(p for p in memory_pairs if p in probs)
    while len(chosen) < min(l, m) and memory:
        pair = draw(dict(memory), rng.random())
        chosen.append((pair, "memory"))
        del memory[pair]
    rest = {p: w for p, w in probs.items() if p not in {c for c, _ in chosen}}
    while len(chosen) < m and rest:
        pair = draw(rest, rng.random())
        chosen.append((pair, "global"))
        del rest[pair]
    return chosen
