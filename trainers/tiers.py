"""Preference pairs from scored trajectories, with a cost tier (the ADS paper's Algorithm 1).

Among one task's trajectories, each with a reward S (held-out gain) and a cost C:

* chosen: the cheapest trajectory whose reward lies in the top tier
  [(1 - tau) Rmax + tau Rmin, Rmax];
* rejected: the costliest trajectory whose reward lies in the bottom tier
  [Rmin, (1 - tau) Rmin + tau Rmax];
* no pair when every reward ties (Rmax == Rmin): nothing tells the trajectories apart; with
  ``tie_by_cost`` the cheapest against the costliest where their costs differ (the same gain for
  less: what a plan that buys nothing useful should learn to drop).

Ties on cost go to the better reward for chosen and the worse for rejected, then to the earlier
trajectory, so the selection is deterministic. With tau < 0.5 the tiers are disjoint whenever the
rewards differ, so chosen and rejected are always different trajectories.
"""

from __future__ import annotations

from typing import Sequence


def select_pair(rewards: Sequence[float], costs: Sequence[float], *, tau: float = 0.1,
                tie_by_cost: bool = False) -> tuple[int, int] | None:
    """(index of chosen, index of rejected), or None when the rewards all tie (and, with
    ``tie_by_cost``, so do the costs) or there is one trajectory."""
    if len(rewards) != len(costs):
        raise ValueError(f"{len(rewards)} rewards but {len(costs)} costs")
    if not 0 <= tau < 0.5:
        raise ValueError(f"the cost tier tau must be in [0, 0.5), got {tau}")
    if len(rewards) < 2:
        return None
    r_max, r_min = max(rewards), min(rewards)
    if r_max == r_min:
        if not tie_by_cost or min(costs) == max(costs):
            return None
        return (min(range(len(costs)), key=lambda i: (costs[i], i)),
                min(range(len(costs)), key=lambda i: (-costs[i], i)))
    top = (1 - tau) * r_max + tau * r_min
    bottom = (1 - tau) * r_min + tau * r_max
    eps = 1e-12
    good = [i for i, r in enumerate(rewards) if r >= top - eps]
    bad = [i for i, r in enumerate(rewards) if r <= bottom + eps]
    chosen = min(good, key=lambda i: (costs[i], -rewards[i], i))
    rejected = min(bad, key=lambda i: (-costs[i], rewards[i], i))
    return chosen, rejected
