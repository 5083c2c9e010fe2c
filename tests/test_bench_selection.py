"""bench/selection.py: a variant names the icl-knn selection settings it changes; the rest keep the defaults."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from graph.context import Context


def selection():
    """The bench script as a module; the bench folder it puts on sys.path is taken off again (its
    scoring.py would otherwise shadow the scoring package for the tests that import it later)."""
    spec = importlib.util.spec_from_file_location("bench_selection", Path(__file__).parents[1] / "bench" / "selection.py")
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module


def test_a_variant_changes_only_the_settings_it_names():
    ctx = Context()
    name, fields = selection().parse_variant("loose:overlap=0,rows=none", ctx)
    assert name == "loose"
    assert fields == {"min_similarity": ctx.knn_min_similarity, "max_rows": None, "min_overlap": 0.0,
                      "min_context_overlap": ctx.knn_context_overlap, "min_answer_support": ctx.knn_answer_support}
    assert selection().parse_variant("default", ctx)[1]["min_overlap"] == ctx.knn_min_overlap


def test_an_unknown_setting_names_the_known_ones():
    with pytest.raises(SystemExit, match="floor, rows, overlap, context, support"):
        selection().parse_variant("x:threshold=1", Context())
