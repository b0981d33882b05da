from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from loan_default.errors import InputError
from monitoring.performance import (
    PerformanceConfig,
    estimated_performance,
    expected_auc,
    ks_statistic,
    labelled_performance,
)


def _brute_force_expected_auc(p):
    num = den = 0.0
    for i, j in itertools.permutations(range(len(p)), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den


def test_expected_auc_by_hand():
    # concordant weights .5*.8 + .8*.8 + .8*.5 = 1.44; discordant .2*.5 + .2*.2 + .5*.2 = .24
    assert expected_auc(np.array([0.8, 0.2, 0.5])) == pytest.approx(1.44 / 1.68)


def test_expected_auc_matches_pairwise_definition_with_ties():
    p = np.random.default_rng(0).choice([0.05, 0.1, 0.3, 0.3, 0.6, 0.9], size=40)
    assert expected_auc(p) == pytest.approx(_brute_force_expected_auc(p))


def test_expected_auc_edge_cases():
    assert expected_auc(np.array([0.3])) is None
    assert expected_auc(np.array([0.4, 0.4, 0.4])) == pytest.approx(0.5)
    assert expected_auc(np.array([0.0, 0.0])) is None  # no possible defaulter


def test_expected_auc_matches_realised_auc_of_labels_drawn_from_p():
    rng = np.random.default_rng(42)
    p = rng.beta(1.0, 6.0, size=3_000)
    realised = [roc_auc_score(rng.random(p.size) < p, p) for _ in range(200)]
    assert expected_auc(p) == pytest.approx(np.mean(realised), abs=0.005)


def test_estimated_performance_reports_rate_brier_and_drop():
    p = np.array([0.1, 0.2, 0.7, np.nan])
    est = estimated_performance(p, {"roc_auc": 0.9})
    assert est.rows == 3
    assert est.expected_default_rate == pytest.approx(1.0 / 3)
    assert est.expected_brier == pytest.approx((0.09 + 0.16 + 0.21) / 3)
    expected = expected_auc(p[:3])
    assert expected is not None
    assert est.expected_auc_drop == pytest.approx(0.9 - expected)
    assert estimated_performance(np.array([])).expected_roc_auc is None


def test_labelled_performance_against_sklearn_and_training_figures():
    rng = np.random.default_rng(1)
    p = rng.beta(1.0, 5.0, size=1_000)
    y = (rng.random(p.size) < p).astype(int)
    train = {"roc_auc": 0.95, "ks": 0.8, "brier": 0.05}
    perf = labelled_performance(y, p, train)
    auc = roc_auc_score(y, p)
    assert perf.status == "ok"
    assert perf.roc_auc == pytest.approx(auc)
    assert perf.gini == pytest.approx(2 * auc - 1)
    assert perf.brier == pytest.approx(np.mean((p - y) ** 2))
    assert perf.auc_drop == pytest.approx(0.95 - auc)
    assert perf.ks is not None and perf.brier is not None
    assert perf.ks_drop == pytest.approx(0.8 - perf.ks)
    assert perf.brier_increase == pytest.approx(perf.brier - 0.05)
    assert perf.degraded  # a realistic AUC is far below 0.95
    assert not labelled_performance(y, p, {"roc_auc": auc + 0.01}).degraded
    assert json.loads(perf.model_dump_json())["status"] == "ok"


def test_ks_statistic_by_hand():
    # defaulters score 0.9, 0.4; non-defaulters 0.5, 0.1: at threshold 0.9 TPR-FPR = 0.5,
    # at 0.5: TPR .5 FPR .5; at 0.4: TPR 1, FPR .5 -> 0.5
    assert ks_statistic(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])) == 0.5
    assert ks_statistic(np.array([1, 0]), np.array([0.9, 0.1])) == 1.0


def test_too_few_labels_or_one_class_is_insufficient():
    config = PerformanceConfig(min_labels=50, min_class_count=5)
    few = labelled_performance(np.array([0, 1] * 10), np.full(20, 0.3), None, config)
    assert few.status == "insufficient" and few.roc_auc is None and "20 labels" in str(few.reason)
    one_class = labelled_performance(np.zeros(100), np.full(100, 0.3), None, config)
    assert one_class.status == "insufficient" and "0 defaults" in str(one_class.reason)
    assert one_class.observed_default_rate == 0.0
    assert not one_class.degraded


def test_bad_inputs_are_rejected():
    with pytest.raises(InputError, match="3 outcomes but 2"):
        labelled_performance(np.array([0, 1, 0]), np.array([0.1, 0.2]))
    with pytest.raises(InputError, match="0 \\(repaid\\) or 1"):
        labelled_performance(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(InputError, match="from 0 to 1"):
        estimated_performance(np.array([1.5]))
