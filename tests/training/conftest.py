"""Fixtures of the training tests: a tiny config, a small generated data set, one trained run."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from loan_default.data.generate import generate_applications
from training import registry
from training.config import TrainingConfig

TINY: dict[str, Any] = {
    "seed": 7,
    "folds": 3,
    "test_size": 0.2,
    "n_jobs": 2,
    "search": {"budget_seconds": 2, "max_trials": 2, "folds": 2, "max_rows": 1500},
    "calibration": {"method": "auto"},
    "importance_repeats": 1,
    "candidates": [
        {
            "name": "scorecard",
            "algorithm": "scorecard",
            "imbalance": "none",
            "params": {"max_n_bins": 4},
            "monotone": {"loan_annuity": 1, "annuity_to_credit": 1},
        },
        {"name": "logistic_regression", "algorithm": "logistic_regression"},
        {"name": "decision_tree", "algorithm": "decision_tree"},
        {
            "name": "random_forest",
            "algorithm": "random_forest",
            "params": {"n_estimators": 15, "max_depth": 8},
        },
        {
            "name": "lightgbm",
            "algorithm": "lightgbm",
            "params": {"n_estimators": 60, "num_leaves": 7, "learning_rate": 0.1},
            "monotone": {"loan_annuity": 1, "annuity_to_credit": 1},
            "search": {"num_leaves": [4, 15]},
        },
        {
            "name": "lightgbm_smote",
            "algorithm": "lightgbm",
            "imbalance": "smote",
            "params": {"n_estimators": 40, "learning_rate": 0.1},
        },
        {"name": "blend", "algorithm": "blend", "parts": ["scorecard", "lightgbm"]},
    ],
}


@pytest.fixture(scope="session")
def tiny_config() -> TrainingConfig:
    return TrainingConfig.from_dict(TINY)


@pytest.fixture(scope="session")
def applications() -> pd.DataFrame:
    """3,000 generated applications with labels (about 8% defaults)."""
    return generate_applications(3000, seed=11)


@pytest.fixture(scope="session")
def applications_file(applications: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("training-data") / "applications.parquet"
    applications.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained(applications_file: Path, tiny_config: TrainingConfig) -> Any:
    """One full training run (CV, calibration, reports, MLflow, Bento), shared by the tests."""
    from training.pipeline import run_training

    return run_training(applications_file, config=tiny_config, quiet=True)


@pytest.fixture
def registry_restored(trained: Any) -> Any:
    """Leave the session's registry as training left it (other areas' tests share it)."""
    yield trained
    client = registry.client()
    for alias in (registry.CHAMPION, registry.PREVIOUS):
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(registry.MODEL_NAME, alias)
    client.set_registered_model_alias(
        registry.MODEL_NAME, registry.CHALLENGER, trained.mlflow_version
    )
