"""The self-improve graph (I-SHEEP): iterative self-instruct, self-assessment, threshold
filtering and SFT each iteration; ``report.py`` writes the report."""
