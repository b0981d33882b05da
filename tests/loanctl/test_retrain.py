"""The retraining a trigger starts: the training pipeline, passed in by the wiring layer."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loan_default.errors import ConfigError
from loan_default.training_metrics import TrainingMetrics
from loanctl.retrain import pipeline_trainer
from monitoring.responses import RetrainOutcome
from monitoring.settings import RetrainConfig


@dataclass
class _Result:
    bento_tag: str = "loan_default:v9"
    mlflow_version: str = "9"
    metrics: TrainingMetrics = field(
        default_factory=lambda: TrainingMetrics(holdout={"roc_auc": 0.81})
    )


def test_pipeline_trainer_runs_the_training_pipeline_on_the_configured_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple] = []

    def run_training(data, *, source=None, config=None, reason=None, quiet=False):
        calls.append((data, source, config, reason, quiet))
        return _Result()

    fake = types.ModuleType("training.pipeline")
    fake.run_training = run_training  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "training.pipeline", fake)
    data = tmp_path / "applications.parquet"
    fast = tmp_path / "training.yaml"
    train = pipeline_trainer(RetrainConfig(data=data, source="loan_default", config=fast))
    result = train("monitoring: volume")
    assert calls == [(data, "loan_default", fast, "monitoring: volume", True)]
    assert result == RetrainOutcome("loan_default:v9", "9", {"holdout_roc_auc": 0.81})


def test_pipeline_trainer_needs_data() -> None:
    with pytest.raises(ConfigError, match=r"retrain\.data"):
        pipeline_trainer(RetrainConfig(data=None))
