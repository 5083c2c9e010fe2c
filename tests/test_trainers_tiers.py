"""Cost-tier pair selection (trainers/tiers.py) on hand-made reward / cost tables."""

import pytest

from trainers.tiers import select_pair


def test_cheapest_of_the_best_and_costliest_of_the_worst():
    rewards = [0.30, 0.28, 0.10, 0.00, 0.01]
    costs = [6.0, 3.0, 1.0, 9.0, 2.0]
    # tau 0.1: top tier [0.27, 0.30] = {0, 1} -> cheapest 1; bottom tier [0, 0.03] = {3, 4} -> costliest 3
    assert select_pair(rewards, costs, tau=0.1) == (1, 3)
    # tau 0: only the exact best and worst
    assert select_pair(rewards, costs, tau=0.0) == (0, 3)


def test_all_equal_and_single_trajectories_give_no_pair():
    assert select_pair([0.2, 0.2, 0.2], [1, 2, 3]) is None
    assert select_pair([0.5], [1.0]) is None
    assert select_pair([], []) is None


def test_ties_on_cost_prefer_the_better_reward_then_the_earlier():
    rewards = [0.5, 0.48, 0.0, 0.02]
    costs = [4.0, 4.0, 5.0, 5.0]
    # top tier [0.45, 0.5]: both cost 4 -> the better reward (0); bottom [0, 0.05]: both cost 5 -> the worse (2)
    assert select_pair(rewards, costs, tau=0.1) == (0, 2)
    assert select_pair([1.0, 1.0, 0.0], [2.0, 2.0, 1.0], tau=0.1) == (0, 2)


def test_negative_rewards_and_bad_arguments():
    assert select_pair([-0.2, -0.1, -0.3], [1, 2, 3], tau=0.1) == (1, 2)
    with pytest.raises(ValueError, match="tau must be in"):
        select_pair([1, 0], [1, 1], tau=0.5)
    with pytest.raises(ValueError, match="2 rewards but 1 costs"):
        select_pair([1, 0], [1])


def test_tied_rewards_pair_by_cost_only_when_asked_and_the_costs_differ():
    # the same gain for less: the cheapest (first of the two at cost 3) against the costliest
    assert select_pair([0.2, 0.2, 0.2], [6, 3, 9], tie_by_cost=True) == (1, 2)
    assert select_pair([0.2, 0.2, 0.2], [3, 3, 9], tie_by_cost=True) == (0, 2)
    assert select_pair([0.2, 0.2], [6, 6], tie_by_cost=True) is None
    # rewards that differ are paired by the tiers as before
    assert select_pair([0.30, 0.28, 0.10, 0.00, 0.01], [6.0, 3.0, 1.0, 9.0, 2.0], tie_by_cost=True) == (1, 3)
