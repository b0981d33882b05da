"""On the real Home Credit sample the champion reaches a 5-fold CV ROC AUC of at least 0.74."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainingConfig

HOME_CREDIT = "home_credit_application_train_sample5000.tsv.gz"


@pytest.mark.slow
@pytest.mark.realdata
def test_home_credit_champion_auc(shared_data: Path) -> None:
    from training.pipeline import run_training

    path = shared_data / HOME_CREDIT
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    shipped = TrainingConfig.load()
    config = shipped.model_copy(
        update={
            "test_size": 0.0,  # 5,000 rows: every row goes to the 5-fold CV
            "candidates": [shipped.candidate("logistic_regression"), shipped.candidate("lightgbm")],
            "search": shipped.search.model_copy(update={"budget_seconds": 0}),
        }
    )
    result = run_training(path, source="home_credit", config=config, quiet=True)
    print(result.table[["candidate", "roc_auc_mean", "roc_auc_std"]].to_string(index=False))
    assert result.metrics.cv["roc_auc"].mean >= 0.74
