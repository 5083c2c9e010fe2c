"""Every prompt of the project, as named constants filled with ``.format()``.

The ADS paper's prompts (optimizer, demonstration, QA, ICL, judge) are the defaults; any of them
can be overridden by name through ``Context.prompts``.
"""

# ---- tools (data-collecting APIs) -------------------------------------------------------

# ---- scoring (judges, self-assessment) --------------------------------------------------

# ---- trainers (in-context update) -------------------------------------------------------

# ---- graph (optimizer trajectory) -------------------------------------------------------
