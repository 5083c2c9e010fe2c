"""State reducers every graph shares (LangGraph ``Annotated[..., reducer]`` merges)."""

from __future__ import annotations


def merge(left: dict | None, right: dict | None) -> dict:
    """Shallow dict merge: the right side's keys win."""
    return {**(left or {}), **(right or {})}


def add_timings(left: dict | None, right: dict | None) -> dict:
    """Seconds per stage, summed: the tool stage and optimizer retries run more than once."""
    out = dict(left or {})
    for stage, seconds in (right or {}).items():
        out[stage] = round(out.get(stage, 0.0) + seconds, 3)
    return out
