"""The sidecar's screen at the decision the service logged: a population whose women carry
more risk (the ``group_risk`` shift) is flagged by the four-fifths rule; an unbiased one is not.

The decisions are the ones the served model makes (its recorded policy on its calibrated
probabilities) and travel through real traffic-log records, as the sidecar reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from loan_default.data.generate import generate_applications
from loan_default.schema import frame_to_records
from loan_default.store import load_model
from loan_default.traffic import PredictionRecord
from monitoring.fairness import FairnessConfig, compute_fairness
from tests.runners.tiny_model import build


@pytest.fixture(scope="module")
def served() -> object:
    tag, _, _ = build(version="vfair-decision")
    return load_model(tag)


@pytest.mark.parametrize(("shift", "flagged"), [(None, False), ("group_risk", True)])
def test_the_sidecar_flags_a_disparity_at_the_logged_decision(
    served: object, shift: str | None, flagged: bool
) -> None:
    loaded = served
    window = generate_applications(3000, seed=31, shift=shift).drop(columns=["default"])
    p = loaded.model.predict_proba(window)  # type: ignore[attr-defined]
    policy = loaded.metadata.policy()  # type: ignore[attr-defined]
    assert policy.recorded
    now = datetime.now(UTC)
    records = [
        PredictionRecord(prediction_id=f"p{i}", timestamp=now, model_name="loan_default",
                         model_version="vfair-decision", endpoint="predict", application=app,
                         default_probability=float(pi), risk_category="LOW",
                         decision=policy.decision(float(pi)))
        for i, (app, pi) in enumerate(zip(frame_to_records(window), p, strict=True))
    ]  # fmt: skip
    decisions = np.array([r.decided() for r in records], dtype=object)
    summary = compute_fairness(window, decisions, None, FairnessConfig())
    gender = next(a for a in summary.attributes if a.attribute == "client_gender")
    assert gender.flagged is flagged
    if flagged:
        assert gender.flagged_groups == ["female"] and gender.reference_group == "male"
        assert gender.min_air is not None and gender.min_air < 0.8
