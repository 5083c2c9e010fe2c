"""memory_search: instruction-response pairs stored earlier, nearest in meaning to the query.

Rows come with what they were stored with: the agent pair that wrote them (Star-Agents), the score
they were kept with (``data_score``) and their tags. The bank grows as star-agents and improve
runs (``memory_min_score``) add their high scorers, so this tool reads it live and is never cached.
"""

from __future__ import annotations

from .base import ToolError, ToolOutput

CACHEABLE = False


def run(query: str, ctx) -> ToolOutput:
    from memory import MemoryBank

    bank = MemoryBank(ctx.memory_path, ctx.embedder)
    rows = bank.search(query, k=ctx.memory_k)
    provenance = {"memory_path": str(bank.path), "embedder": ctx.embedder, "bank_rows": bank.count()}
    if not rows:
        raise ToolError(f"the memory bank at {bank.path} is empty; add rows with: python cli.py memory add FILE.jsonl, "
                        "or grow it with python cli.py star-agents --seed-data FILE --out DIR",
                        provenance=provenance)
    return ToolOutput(rows=rows, provenance=provenance)
