"""Curation of gathered rows: drop empties and duplicates, filter by judge score, keep provenance."""

from __future__ import annotations

import re


def row_key(row: dict) -> str:
    """What makes two rows the same data, whitespace and case aside."""
    text = row.get("text") if row.get("type") == "document" else f"{row.get('instruction')}\n{row.get('response')}"
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def curate_rows(rows: list[dict], judge: list[dict], ifd: list, *, min_judge_score: float = 0.0):
    """(kept rows with their scores, dropped rows with the reason), in the order they were bought."""
    kept, dropped, seen = [], [], set()
    for i, row in enumerate(rows):
        assessed = judge[i] if i < len(judge) else {}
        score = (assessed or {}).get("score")
        # "score" orders rows when they are packed into the policy's context (trainers.icl.pack)
        if "score" in row:
            row = {**row, "retrieval_score": row["score"]}
        row = {**row, "judge": assessed, "ifd": ifd[i] if i < len(ifd) else None, "score": score}
        key = row_key(row)
        reason = None
        if not key or (row.get("type") != "document" and not (row.get("instruction") and row.get("response"))):
            reason = "empty"
        elif key in seen:
            reason = "duplicate"
        elif score is not None and score < min_judge_score:
            reason = f"judge score {score:.2f} < {min_judge_score:g}"
        if reason:
            dropped.append({"row": {k: row.get(k) for k in ("type", "source", "call")}, "reason": reason})
            continue
        seen.add(key)
        kept.append(row)
    return kept, dropped
