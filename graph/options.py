"""The fixed choices of settings and the error a bad setting raises: what both ``Context``
(graph/context.py) and its checks (graph/checks.py) need, so neither imports the other at load."""

from __future__ import annotations

from records.errors import AdsError

CURATION_STEPS = ("dedupe", "verify", "grounded", "judge", "isheep", "perplexity", "ifd", "star", "relevance", "format")
GROUNDING = ("auto", "on", "off")
# improve's gate on a task with checks (graph/improve/gate.py): keep the update only if it passes more
# (gain) or no fewer (no-loss) of the gate's instructions than the policy it updates; strict: more, and
# none failed that the policy before it passed; off: always keep it
GATES = ("gain", "strict", "no-loss", "off")
# the checks the gate's instructions carry: the nearest observed instruction's as they are, or the same
# checks with parameters lm-eval draws afresh (other keywords, letters, counts: as held-out items differ)
GATE_CHECKS = ("observed", "redrawn")
# the checks an anticipated instruction carries on a task with checks: its nearest observed instruction's
# whole set, or only the check ids every observed instruction carries (the task's instruction type)
ANTICIPATED_CHECKS = ("nearest", "type")
# how a knowledge task's anticipated questions are bought: each as its own information_retrieval call,
# or appended to the query of the observed instruction most like it (query expansion: the rule's calls)
ANTICIPATED_QUERIES = ("calls", "expand")
UPDATES = ("auto", "icl", "icl-knn", "sft")
# update=auto resolves per task (graph/improve/gather.update_kind): sft where the task carries checks,
# icl-knn otherwise; so the settings of either may be set under it
AUTO_UPDATES = ("icl-knn", "sft")


def uses_update(update: str | None, kind: str) -> bool:
    """Whether a run with ``update`` may update by ``kind`` (and so read the settings of ``kind``)."""
    return update == kind or (update == "auto" and kind in AUTO_UPDATES)
JUDGE_MODES = ("auto", "pairwise", "reward", "verify")
DTYPES = ("float32", "bfloat16", "float16")
READINGS = ("auto", "logprobs", "tokens", "text")
EXECUTORS = ("local", "ray")
RAY_SETTINGS = ("ray_address", "ray_workers", "unit_cpus", "unit_gpus", "unit_retries", "ray_setup")


class ConfigError(AdsError, ValueError):
    """A setting cannot be used; the message names it and says what to do."""


ALWAYS_READ = "self-improve"  # ``also=``: the self-improve graph reads this setting on every run
ISHEEP_SETTINGS = ("one_base", "one_last", "total_base")
