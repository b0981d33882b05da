"""Partition-wise window statistics equal the in-memory ones on the same data."""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from loan_default.data.generate import simulate
from loan_default.decision import legacy_decisions
from loan_default.model import RiskThresholds
from loan_default.reference import build_reference
from monitoring.drift import DriftConfig, compute_drift, ks_two_sample
from monitoring.fairness import FairnessConfig, compute_fairness
from monitoring.merged import finish_drift, finish_fairness, finish_quality
from monitoring.partials import ks_cells, ks_from_cells, merge, partial_window
from monitoring.quality import QualityConfig, compute_quality

FAIRNESS = FairnessConfig(min_group_size=30, adverse_decisions=["refer", "decline"])


@pytest.fixture(scope="module")
def reference():
    training = simulate(5_000, seed=100)
    return build_reference(training.frame, training.probability, sample_rows=3_000)


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures; floats equal to 1e-12 (relative), NaN equal to NaN."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_from_cells_is_exact(discrete):
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=2_000), rng.normal(0.2, 1.1, size=700)
    if discrete:
        ref, cur = np.round(ref * 2), np.round(cur * 2)
    ref_sorted = np.sort(ref)
    cells = np.sum([ks_cells(ref_sorted, part) for part in np.array_split(cur, 3)], axis=0)
    d, p = ks_from_cells(ref_sorted, cells)
    assert (d, p) == pytest.approx(ks_two_sample(ref_sorted, cur), rel=1e-12)
    assert d == pytest.approx(stats.ks_2samp(ref, cur).statistic, rel=1e-12)


@pytest.mark.parametrize("shift", [None, "income_drop", "missing_scores"])
def test_merged_partitions_equal_the_whole_window(reference, shift):
    window = simulate(3_000, seed=8, shift=shift)
    frame, p = window.frame, window.probability
    frame.loc[frame.index[:40], "credit_amount"] = -5.0  # invalid values for the quality screen
    frame.loc[frame.index[40:60], "client_gender"] = "unknown"
    categories = legacy_decisions(RiskThresholds(0.05, 0.15).categories(p))
    y = frame["default"].to_numpy()
    config = DriftConfig()
    bounds = [0, 1, 700, 1_900, 3_000]  # uneven parts, one of a single row
    parts = [
        partial_window(
            frame.iloc[a:b],
            p[a:b],
            categories[a:b],
            y[a:b],
            reference=reference,
            drift=config,
            fairness=FAIRNESS,
        )
        for a, b in itertools.pairwise(bounds)
    ]
    merged = functools.reduce(merge, parts)
    assert_same(
        finish_drift(merged, reference, config).model_dump(),
        compute_drift(reference, frame, p, config).model_dump(),
    )
    quality = QualityConfig()
    assert_same(
        finish_quality(merged, quality, reference=reference).model_dump(),
        compute_quality(frame, quality, reference=reference).model_dump(),
    )
    expected = compute_fairness(frame, categories, y, FAIRNESS)
    assert_same(finish_fairness(merged, FAIRNESS).model_dump(), expected.model_dump())
    assert expected.labelled and any(
        g.tpr is not None for a in expected.attributes for g in a.groups
    )


def test_a_missing_column_counts_as_missing(reference):
    window = simulate(400, seed=9)
    frame = window.frame.drop(columns=["credit_bureau"])
    cats = legacy_decisions(RiskThresholds().categories(window.probability))
    part = partial_window(frame, window.probability, cats, None, reference=reference,
                          drift=DriftConfig(), fairness=FAIRNESS)  # fmt: skip
    assert_same(
        finish_quality(part, reference=reference).model_dump(),
        compute_quality(frame, reference=reference).model_dump(),
    )
    assert_same(
        finish_drift(part, reference).model_dump(),
        compute_drift(reference, frame, window.probability).model_dump(),
    )
    assert not finish_fairness(part, FAIRNESS).labelled
