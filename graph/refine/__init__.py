"""The refine graph (the paper's Algorithm 1): sampled optimizer trajectories rewarded by held-out
gain and cost, rejection sampling then iterative DPO with a cost tier. ``steps.py`` runs
trajectories and rewards, ``report.py`` writes the report."""
