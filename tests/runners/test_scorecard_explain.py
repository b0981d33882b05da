"""A scorecard champion explained: points per characteristic, the score, REST and gRPC shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loan_default.api import Explanation
from loan_default.data.generate import generate_applications
from loan_default.grpc.messages import explanation_to_dict
from loan_default.model import ScoringModel
from loan_default.reasons import reason_codes
from loan_default.schema import LABEL, frame_to_records
from loan_default.store import LoadedModel, ModelMetadata
from runners.explainer import ExplainerCore
from runners.grpc.convert import explanation_to_proto
from runners.settings import ServingSettings
from training.candidates import build_pipeline, scoring_estimator
from training.config import TrainingConfig

SCORECARD = {"name": "s", "algorithm": "scorecard", "imbalance": "none",
             "params": {"max_n_bins": 4}}  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(1500, seed=3)


@pytest.fixture(scope="module")
def applications(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame_to_records(frame.drop(columns=[LABEL]).head(5))


@pytest.fixture(scope="module")
def core(frame: pd.DataFrame) -> ExplainerCore:
    config = TrainingConfig.from_dict({"candidates": [SCORECARD]})
    pipeline = build_pipeline(config.candidate("s"), seed=1)
    pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL])
    features, card = scoring_estimator(pipeline)
    model = ScoringModel(features, card)
    meta = ModelMetadata(version="vscorecard", algorithm=model.algorithm,
                         created_at=datetime.now(UTC), feature_names=model.feature_names,
                         data_hash="0" * 64, data_rows=len(frame))  # fmt: skip
    book = reason_codes(ServingSettings().reasons_path)
    return ExplainerCore(LoadedModel(model, meta, Path()), book)


def test_explanation_has_points_that_sum_to_the_score(
    core: ExplainerCore, applications: list[dict[str, Any]]
) -> None:
    card = core.loaded.model.scorecard()
    assert card is not None
    answers = core.explain(applications)
    for answer in answers:
        points = answer["points"]
        assert [p["characteristic"] for p in points] == [c.name for c in card.characteristics_]
        assert answer["score"] == pytest.approx(sum(p["points"] for p in points))
        assert all(p["points"] <= p["max_points"] + 1e-9 for p in points)
        lost = sum(p["max_points"] - p["points"] for p in points)
        contributions = [r["contribution"] for r in answer["reasons"]]
        assert contributions == sorted(contributions, reverse=True)
        assert sum(contributions) * card.factor <= lost + 1e-6  # folded point losses
        assert len({r["feature"] for r in answer["reasons"]}) == len(contributions)
        raw = float(card.probability_of_score(np.array([answer["score"]]))[0])
        assert 0 < raw < 1


def test_scorecard_explanation_over_rest_and_grpc_shapes(
    core: ExplainerCore, applications: list[dict[str, Any]]
) -> None:
    (answer,) = core.explain(applications[:1])
    body = {
        "prediction_id": "0190b8a0-0000-7000-8000-000000000000",
        "default_probability": 0.1,
        "risk_category": "LOW",
        "decision": "approve",
        "model_name": "loan_default",
        "model_version": answer["model_version"],
        "timestamp": "2026-12-01T00:00:00Z",
        "base_value": answer["base_value"],
        "reasons": answer["reasons"],
        "score": answer["score"],
        "points": answer["points"],
    }
    Explanation.model_validate(body)  # the REST response model accepts it
    back = explanation_to_dict(explanation_to_proto(body))
    assert back["score"] == pytest.approx(answer["score"])
    assert [p["characteristic"] for p in back["points"]] == [
        p["characteristic"] for p in answer["points"]
    ]
    plain = {k: v for k, v in body.items() if k not in ("score", "points")}
    assert "score" not in explanation_to_dict(explanation_to_proto(plain))
