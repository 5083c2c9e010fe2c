"""The Star-Agents graph: agent pairs rewrite seed instructions and responses, dual-model IFD x
judge selects, pair probabilities evolve, kept rows go to the memory bank. ``seed.py`` handles one
seed, ``outputs.py`` writes the files; the agent pairs themselves are graph/agents.py."""
