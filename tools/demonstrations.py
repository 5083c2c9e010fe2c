"""demonstration_generation: the policy writes instruction-response pairs about a topic.

Small models rarely follow a format exactly, so the parser is lenient about how the two parts
are marked ("Instruction:", "**Instruction 1:**", "### Response", "Question:/Answer:" ...) but
strict about what it keeps: a pair needs both parts, and a sample with no pair is reported
(count and raw text), never kept.
"""

from __future__ import annotations

import re

import llms

from .base import ToolError, ToolOutput, load_model

# A marker starts a line (after optional markdown/numbering) or follows a sentence end, and is
# followed by a colon, or stands alone on a markdown heading line.
_LEAD = r"(?:^|(?<=[.!?\"')\]])[ \t]+)[ \t>*#_\-\d.)]*"
_WORDS = {"instruction": "i", "question": "i", "task": "i", "prompt": "i",
          "response": "r", "answer": "r", "output": "r", "solution": "r"}
_MARKER = re.compile(
    _LEAD + r"(?P<word>" + "|".join(_WORDS) + r")(?:[ \t]*#?\d+)?[ \t*_]*(?::[ \t*_]*|[ \t*_]*\n)",
    re.IGNORECASE | re.MULTILINE,
)
_PLACEHOLDER = re.compile(r"^<?\s*(the\s+)?(instruction|response)\s*>?$|<the (instruction|response)>", re.IGNORECASE)


def parse_demonstrations(text: str) -> list[dict]:
    """All ``{instruction, response}`` pairs marked in ``text`` (possibly none)."""
    marks = [(m.start(), m.end(), _WORDS[m.group("word").lower()]) for m in _MARKER.finditer(text)]
    pairs, current = [], None
    for n, (_, end, kind) in enumerate(marks):
        body = _clean(text[end: marks[n + 1][0] if n + 1 < len(marks) else len(text)])
        if kind == "i":
            current = {"instruction": body, "response": ""}
            pairs.append(current)
        elif current is not None and not current["response"]:
            current["response"] = body
    return [p for p in pairs if _keep(p)]


def _clean(s: str) -> str:
    s = s.strip().strip("*_").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    return s


def _keep(pair: dict) -> bool:
    ins, resp = pair["instruction"], pair["response"]
    return bool(ins and resp and not _PLACEHOLDER.search(ins) and not _PLACEHOLDER.search(resp))


def sampling(ctx) -> llms.SamplingParams:
    # One pair per sample: stop where the model starts a second one.
    return llms.SamplingParams(max_new_tokens=ctx.max_new_tokens, temperature=ctx.demonstration_temperature,
                               n=ctx.demonstrations_per_call, seed=ctx.seed, stop=("\nInstruction:",))


def cache_parts(topic: str, ctx, checks: list[dict] | None = None) -> dict:
    if checks:
        parts = {"model": ctx.policy, "dtype": ctx.dtype, "sampling": verified_sampling(ctx).key(), "checks": checks}
        return {**parts, "edits": True} if ctx.check_edits else parts
    return {"model": ctx.policy, "dtype": ctx.dtype, "sampling": sampling(ctx).key(), "prompt": ctx.prompt("DEMONSTRATION_PROMPT"),
            "prefix": ctx.prompt("DEMONSTRATION_REPLY_PREFIX")}


def generate(llm, prompt: str, params: llms.SamplingParams, prefix: str, batch_size: int = 8) -> list:
    """Samples for ``prompt``; where the backend continues raw text the reply starts with ``prefix``."""
    if prefix and hasattr(llm, "generate_raw"):
        try:
            raw = llm.render(prompt) + prefix
        except llms.UnsupportedOperation:
            raw = None
        if raw is not None:
            samples = llm.generate_raw([raw], params, batch_size=batch_size)[0]
            for g in samples:
                g.text = prefix + " " + g.text
            return samples
    return llm.generate([prompt], params, batch_size=batch_size)[0]


def run(topic: str, ctx, checks: list[dict] | None = None) -> ToolOutput:
    if checks:
        return run_verified(topic, ctx, checks)
    llm = load_model(ctx, ctx.policy)
    prefix = ctx.prompt("DEMONSTRATION_REPLY_PREFIX")
    samples = generate(llm, ctx.prompt("DEMONSTRATION_PROMPT").format(topic=topic), sampling(ctx), prefix, ctx.batch_size)
    rows, seen, rejected = [], set(), []
    for i, g in enumerate(samples):
        pairs = parse_demonstrations(g.text)
        if not pairs:
            rejected.append(g.text)
        for p in pairs:
            key = " ".join(p["instruction"].split()).casefold()
            if key in seen:  # greedy or lucky samples repeat themselves; one copy is enough
                continue
            seen.add(key)
            rows.append({"type": "demonstration", **p,
                         "provenance": {"generated_by": ctx.policy, "topic": topic, "sample": i}})
    provenance = {"generated_by": ctx.policy, "topic": topic, "reply_prefix": prefix if hasattr(llm, "generate_raw") else None,
                  "samples": len(samples), "kept": len(rows),
                  "rejected": len(rejected), "rejected_raw": rejected}
    tokens = sum(g.prompt_tokens + g.completion_tokens for g in samples)
    if not rows:
        raise ToolError(f"the policy wrote no parsable Instruction/Response pair in {len(samples)} sample(s); "
                        f"first output: {samples[0].text[:300]!r}" if samples else "the policy returned no sample",
                        provenance=provenance, tokens=tokens)
    return ToolOutput(rows=rows, provenance=provenance, tokens=tokens)


TAKES_CHECKS = True  # call_tool hands it the task's checks: then it samples and keeps what verifies


def verified_sampling(ctx) -> llms.SamplingParams:
    # an answer to an instruction with checks gets the room a held-out answer gets (checks_max_new_tokens)
    return llms.SamplingParams(max_new_tokens=ctx.checks_max_new_tokens, temperature=ctx.demonstration_temperature,
                               n=ctx.verify_samples, seed=ctx.seed)


def run_verified(instruction: str, ctx, checks: list[dict]) -> ToolOutput:
    """Rejection sampling on a task that says what a good answer is (ReST-EM, STaR): the policy
    answers ``instruction`` ``ctx.verify_samples`` times and the responses that pass every one of
    the task's ``checks`` (lm-eval's IFEval checkers) are kept; the pass rate and the failing
    checks are in the provenance. A program decides, not a judge of the policy's size."""
    from scoring.rejection import Sampled

    llm = load_model(ctx, ctx.policy)
    samples = llm.generate([instruction], verified_sampling(ctx), batch_size=ctx.batch_size)[0]
    verdicts = Sampled(checks, [g.text for g in samples], prompt=instruction, edit=ctx.check_edits)
    rows = []
    for i in verdicts.distinct():
        made = {"edited": verdicts.edited[i]} if i in verdicts.edited else {}
        rows.append({"type": "demonstration", "instruction": instruction, "response": verdicts.answers[i], "checks": checks,
                     "provenance": {"generated_by": ctx.policy, "verified": True, "sample": i, **made}})
    # the pass rate is the samples' as written; those an edit made pass are counted apart
    passed = len(verdicts.passing) - len(verdicts.edited)
    provenance = {"generated_by": ctx.policy, "instruction": instruction, "checks": [c["id"] for c in checks],
                  "samples": len(samples), "passed": passed, "pass_rate": round(passed / max(1, len(samples)), 4),
                  "kept": len(rows), "failing": verdicts.failing}
    if ctx.check_edits:
        provenance["edited"] = len(verdicts.edited)
    tokens = sum(g.prompt_tokens + g.completion_tokens for g in samples)
    if not rows:
        raise ToolError(verdicts.why("sample", "the task's checks"), provenance=provenance, tokens=tokens)
    return ToolOutput(rows=rows, provenance=provenance, tokens=tokens)
