"""The one verdict type of every comparison (verifier, LLM judge, reward model) and its summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class Verdict:
    """A judge's decision: its reasoning, then the winner ("A", "B", "tie"; None = no verdict)."""

    reasoning: str
    winner: str | None
    raw: str = ""
    orders: tuple = field(default=())  # the winner each order named, in the caller's A/B terms

    @property
    def score(self) -> float | None:
        """The winner as A's score: 1 win, 0.5 tie, 0 lose; None without a verdict."""
        return {"A": 1.0, "tie": 0.5, "B": 0.0}.get(self.winner) if self.winner else None

    def to_dict(self) -> dict:
        return {"winner": self.winner, "reasoning": self.reasoning, "orders": list(self.orders), "raw": self.raw}


def summarize(verdicts: Sequence[Verdict]) -> dict:
    """Counts and rates for A (the updated policy) against B.

    win_rate = win / decided and adjusted_win_rate = (win + 0.5 x tie) / decided, where
    decided = win + tie + lose: pairs without a verdict are reported in ``no_verdict`` and left
    out of both rates (counting them as losses would punish the judge's failures on the policy).
    Rates are None when nothing was decided.
    """
    win = sum(v.winner == "A" for v in verdicts)
    lose = sum(v.winner == "B" for v in verdicts)
    tie = sum(v.winner == "tie" for v in verdicts)
    no_verdict = sum(v.winner is None for v in verdicts)
    decided = win + tie + lose
    return {
        "n": len(verdicts), "win": win, "tie": tie, "lose": lose, "no_verdict": no_verdict,
        "win_rate": win / decided if decided else None,
        "adjusted_win_rate": (win + 0.5 * tie) / decided if decided else None,
    }
