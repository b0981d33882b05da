"""``loanctl train --cluster``: LightGBM on a LocalCluster registers a model the service loads.

The service's own loading code (``runners.loading.load_serving_model``, what each serving
worker calls at start-up) loads the registered model; serving a real Bento is the integration
tests' job and would only repeat it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lightgbm import LGBMClassifier

from loan_default.cluster import ClusterSettings
from loan_default.data.generate import generate_applications
from loan_default.schema import frame_to_records
from training.config import TrainingConfig

pytestmark = pytest.mark.slow

CONFIG = {
    "seed": 3,
    "folds": 3,
    "test_size": 0.2,
    "n_jobs": 1,
    "search": {"budget_seconds": 0},
    "candidates": [
        {"name": "stump", "algorithm": "decision_tree", "params": {"max_depth": 1}},
        {
            "name": "lightgbm",
            "algorithm": "lightgbm",
            "params": {"n_estimators": 60, "num_leaves": 7, "learning_rate": 0.1},
            "monotone": {"loan_annuity": 1},
        },
    ],
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterSettings]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    ) as local:
        yield ClusterSettings(cluster=str(local.scheduler_address))


def test_cluster_training_registers_a_model_the_service_loads(
    cluster: ClusterSettings, tmp_path: Path
) -> None:
    from runners.loading import load_serving_model
    from runners.settings import ServingSettings
    from training.scale_pipeline import run_training_on_cluster

    frame = generate_applications(5_000, seed=5)
    frame.loc[10, "credit_amount"] = -1.0  # one row for the quarantine
    data = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data, row_group_size=1250)
    result = run_training_on_cluster(
        data, cluster=cluster, config=TrainingConfig.from_dict(CONFIG), quiet=True,
        sample_rows=2_000,
    )  # fmt: skip
    assert result.champion == "lightgbm"
    assert result.metrics.cv["roc_auc"].mean > 0.6 and "roc_auc" in result.metrics.holdout
    loaded = load_serving_model(ServingSettings(model_tag=result.bento_tag))
    assert type(loaded.model.estimator) is LGBMClassifier  # an ordinary model, not a Dask one
    assert loaded.metadata.data_rows == 4_999 and loaded.metadata.params["candidate"] == "lightgbm"
    probabilities = loaded.model.predict_proba_records(frame_to_records(frame.head(50)))
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert np.unique(probabilities).size > 10
    # The CV table covers both candidates, the sample-trained one included.
    assert set(result.table["candidate"]) == {"stump", "lightgbm"}
