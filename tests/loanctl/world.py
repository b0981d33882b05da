"""What the wiring's slow tests share: tiny data, the fastest candidate, a trained champion."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import yaml

FAST_TRAINING: dict[str, Any] = {
    "seed": 1, "folds": 2, "test_size": 0, "n_jobs": 1, "search": {"budget_seconds": 0},
    "candidates": [{
        "name": "lightgbm", "algorithm": "lightgbm", "imbalance": "class_weight",
        "params": {"n_estimators": 30, "num_leaves": 8, "learning_rate": 0.1},
    }],
}  # fmt: skip
"""One LightGBM candidate, 2 folds, no search, no hold-out: a few seconds of training."""


def fast_config(folder: Path) -> Path:
    path = folder / "training-fast.yaml"
    path.write_text(yaml.safe_dump(FAST_TRAINING))
    return path


def small_data(folder: Path, rows: int = 2000, seed: int = 3) -> Path:
    from loan_default.data.generate import generate_applications

    path = folder / "applications.parquet"
    generate_applications(rows, seed=seed).to_parquet(path)
    return path


def applications(n: int = 12, seed: int = 4) -> list[dict[str, Any]]:
    from loan_default.data.generate import generate_applications
    from loan_default.schema import frame_to_records

    return frame_to_records(generate_applications(n, seed=seed))


def answers(url: str, apps: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the service decides for each application (ids and times left out)."""
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for app in apps:
            response = client.post("/v1/predict", json=app)
            assert response.status_code == 200, response.text
            body = response.json()
            out.append((body["default_probability"], body["risk_category"], body["model_version"]))
    return out


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a process working on the platform home ``home``."""
    return os.environ | {
        "LOAN_HOME": str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        **extra,
    }
