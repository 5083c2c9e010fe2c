"""The improve graph (Active Data Search): the optimizer plans API calls, the calls gather data,
the data is scored and curated, the policy is updated and measured. ``graph.py`` reads top to
bottom; ``gather.py`` holds the planning and gathering nodes, ``curate.py`` the curation steps,
``state.py`` the state schemas, ``report.py`` the run's report."""
