"""The decision policy: the configured rules, vectorised decisions, older models, and the
fairness screen at the decision flagging a built-in disparity (and only then)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_default.data.generate import generate_applications
from loan_default.decision import DECISIONS, DecisionPolicy, legacy_decisions
from loan_default.errors import InputError
from loan_default.fairness import FairnessRules, fairness_rows, verdicts
from loan_default.store import ModelMetadata
from training.config import TrainingConfig
from training.decision import DecisionRules, choose_policy
from training.pipeline import compare_candidates
from training.progress import Progress


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    p = rng.beta(1.2, 12.0, size=5000)
    return p, (rng.random(5000) < p).astype(int)


def test_target_approval_rate_approves_that_share(scores: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = scores
    policy = choose_policy(p, y, DecisionRules(approval_rate=0.7, decline_rate=0.1),
                           measured_on="test")  # fmt: skip
    decided = policy.decisions(p)
    assert np.mean(decided == "approve") == pytest.approx(0.7, abs=0.002)
    assert np.mean(decided == "decline") == pytest.approx(0.1, abs=0.002)
    assert policy.achieved["approval_rate"] == pytest.approx(np.mean(decided == "approve"))
    assert policy.rule == "target_approval_rate" and policy.target["approval_rate"] == 0.7
    # Riskier never gets a better decision.
    order = np.argsort(p)
    ranks = np.array([DECISIONS.index(d) for d in decided[order]])
    assert np.all(np.diff(ranks) >= 0)


def test_max_bad_rate_keeps_the_approved_within_it(scores: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = scores
    policy = choose_policy(p, y, DecisionRules(rule="max_bad_rate", max_bad_rate=0.05),
                           measured_on="test")  # fmt: skip
    approved = policy.decisions(p) == "approve"
    assert y[approved].mean() <= 0.05
    # The next riskier cut would break the limit: the cut is the largest allowed.
    above = np.sort(p[p >= policy.refer_at])[0]
    assert y[p <= above].mean() > 0.05 or above == p.max()
    assert policy.achieved["bad_rate_approved"] == pytest.approx(y[approved].mean())


def test_fixed_cuts_and_bad_rules_are_refused(scores: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = scores
    policy = choose_policy(p, y, DecisionRules(rule="fixed", approve_below=0.1, decline_at=0.3),
                           measured_on="test")  # fmt: skip
    assert (policy.refer_at, policy.decline_at) == (0.1, 0.3)
    with pytest.raises(ValueError, match="approve_below and decline_at"):
        DecisionRules(rule="fixed")
    with pytest.raises(ValueError, match="decline_at"):
        DecisionPolicy(refer_at=0.5, decline_at=0.2, rule="fixed")


def test_vectorised_decisions_equal_the_scalar_rule() -> None:
    policy = DecisionPolicy(refer_at=0.1, decline_at=0.3, rule="fixed")
    p = np.array([0.0, 0.0999, 0.1, 0.2999, 0.3, 1.0])
    assert policy.decisions(p).tolist() == [policy.decision(x) for x in p]
    assert policy.decisions(p).tolist() == ["approve", "approve", "refer", "refer", "decline",
                                            "decline"]  # fmt: skip


def test_a_model_without_a_policy_decides_by_its_risk_bands() -> None:
    meta = ModelMetadata.model_validate({
        "version": "vold", "algorithm": "LGBMClassifier", "created_at": "2026-11-01T00:00:00Z",
        "feature_names": ["a"], "data_hash": "x", "data_rows": 1,
        "thresholds": {"medium": 0.3, "high": 0.7, "decision": 0.2},
    })  # fmt: skip
    assert meta.decision_policy is None and meta.fairness == []
    policy = meta.policy()
    assert policy.rule == "risk_bands" and not policy.recorded
    assert policy.decisions(np.array([0.1, 0.5, 0.8])).tolist() == ["approve", "refer", "decline"]
    assert legacy_decisions(["LOW", "MEDIUM", "HIGH"]).tolist() == ["approve", "refer", "decline"]
    with pytest.raises(InputError, match="VERY"):
        legacy_decisions(["VERY"])


def test_fairness_rows_by_hand() -> None:
    frame = pd.DataFrame({"client_gender": ["male"] * 200 + ["female"] * 200})
    decided = np.array(["approve"] * 180 + ["decline"] * 20 + ["approve"] * 120 + ["refer"] * 80,
                       dtype=object)  # fmt: skip
    y = np.zeros(400)
    y[190:200] = 1  # men: 10 defaulters, all declined
    y[320:340] = 1  # women: 20 defaulters, all referred
    p = np.r_[np.full(200, 0.05), np.full(200, 0.15)]
    rows = fairness_rows(frame, decided, p, y, FairnessRules(attributes=["client_gender"]))
    by = {r.group: r for r in rows}
    assert by["male"].approval_rate == 0.9 and by["female"].approval_rate == 0.6
    assert by["female"].adverse_impact_ratio == pytest.approx(0.6 / 0.9)
    assert by["male"].adverse_impact_ratio == 1.0
    assert by["male"].tpr == 1.0 and by["female"].tpr == 1.0
    assert by["male"].fpr == pytest.approx(10 / 190) and by["female"].fpr == pytest.approx(60 / 180)
    assert by["female"].predicted_default_rate == pytest.approx(0.15)
    assert by["female"].disparate_impact == pytest.approx(0.15 / y.mean())
    (verdict,) = verdicts(rows)
    assert verdict.flagged and verdict.flagged_groups == ["female"]
    assert verdict.reference_group == "male" and verdict.approval_gap == pytest.approx(0.3)


CONFIG = TrainingConfig.from_dict({
    "seed": 5, "folds": 3, "test_size": 0.0, "n_jobs": 2, "importance_repeats": 1,
    "search": {"budget_seconds": 0},
    "candidates": [{"name": "logistic_regression", "algorithm": "logistic_regression"}],
})  # fmt: skip


@pytest.mark.parametrize(("shift", "flagged"), [(None, False), ("group_risk", True)])
def test_training_flags_a_built_in_disparity_and_only_then(
    shift: str | None, flagged: bool
) -> None:
    frame = generate_applications(4000, seed=9, shift=shift)
    X, y = frame.drop(columns=["default"]), frame["default"].astype(int).to_numpy()
    (result,) = compare_candidates(X, y, CONFIG, Progress(quiet=True))
    assert result.policy is not None and result.threshold == result.policy.refer_at
    gender = next(v for v in verdicts(result.fairness) if v.attribute == "client_gender")
    assert (gender.min_air is not None and gender.min_air < 0.8) is flagged
    if flagged:
        assert gender.flagged_groups == ["female"]
