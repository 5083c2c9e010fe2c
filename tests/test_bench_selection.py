"""bench/selection.py: a variant names the icl-knn selection settings it changes; the rest keep the defaults."""

from __future__ import annotations

import pytest

from graph.context import Context
from tests.fakes import bench_script


def selection():
    return bench_script("selection")


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
