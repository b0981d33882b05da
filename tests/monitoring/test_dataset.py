"""A stored window analysed partition-wise (streamed and on a LocalCluster) equals in-memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from loan_default.cluster import ClusterSettings
from loan_default.data.generate import simulate
from loan_default.decision import legacy_decisions
from loan_default.model import RiskThresholds
from loan_default.portfolio import CATEGORY, PROBABILITY
from loan_default.reference import build_reference
from monitoring.dataset import analyse_dataset
from monitoring.drift import compute_drift
from monitoring.fairness import FairnessConfig, compute_fairness
from monitoring.quality import compute_quality
from monitoring.settings import MonitoringConfig
from tests.monitoring.test_partials import assert_same

CONFIG = MonitoringConfig(fairness=FairnessConfig(min_group_size=50))


@pytest.fixture(scope="module")
def reference():
    training = simulate(4_000, seed=21)
    return build_reference(training.frame, training.probability, sample_rows=2_000)


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A shifted, labelled, scored window in two files of several row groups."""
    sim = simulate(3_000, seed=22, shift="income_drop")
    frame = sim.frame.assign(
        **{PROBABILITY: sim.probability, CATEGORY: RiskThresholds(0.05, 0.15).categories(
            sim.probability)}
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("window")
    for i, part in enumerate((frame.iloc[:1_000], frame.iloc[1_000:])):
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=400)
    return folder, frame


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterSettings]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    ) as local:
        yield ClusterSettings(cluster=str(local.scheduler_address))


def test_streamed_and_cluster_equal_the_in_memory_statistics(reference, window, cluster):
    folder, frame = window
    p, categories, y = frame[PROBABILITY].to_numpy(), frame[CATEGORY].to_numpy(), frame["default"]
    expected = {
        "drift": compute_drift(reference, frame, p, CONFIG.drift).model_dump(),
        "quality": compute_quality(frame, CONFIG.quality, reference=reference).model_dump(),
        "fairness": compute_fairness(
            frame, legacy_decisions(categories), y.to_numpy(), CONFIG.fairness
        ).model_dump(),
    }
    assert expected["drift"]["drifted_features"]  # the shift is seen: not a trivial window
    for cluster_settings in (None, cluster):
        result = analyse_dataset(folder, model="t", reference=reference, config=CONFIG,
                                 cluster=cluster_settings, batch_rows=300)  # fmt: skip
        assert result.partitions == 15  # 3 + 5 row groups of at most 400, cut at 300 rows
        assert result.where == ("streamed" if cluster_settings is None else cluster.cluster)
        for name, summary in expected.items():
            assert_same(getattr(result, name).model_dump(), summary, name)


def test_cli_analyses_a_stored_window(reference, window, tmp_path):
    from loan_default.store import ModelMetadata, save_model
    from loanctl.cli import app
    from tests.runners import tiny_model

    folder, _ = window
    frame = tiny_model.training_frame(600)
    model = tiny_model.train(frame, trees=5)
    metadata = ModelMetadata(
        version="vtest-window",
        algorithm="LGBMClassifier",
        created_at=pd.Timestamp.now(tz="UTC").to_pydatetime(),
        feature_names=model.feature_names,
        data_hash="fixture",
        data_rows=600,
    )
    save_model(model, metadata, write_extra=reference.save)
    out = tmp_path / "window.json"
    result = CliRunner().invoke(
        app,
        ["monitor", "run", "--data", str(folder), "--model", metadata.tag, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "3,000 rows in 8 partitions (streamed" in result.output  # one per row group
    assert "drifted: " in result.output and "drifted: none" not in result.output
    assert json.loads(out.read_text())["drift"]["rows"] == 3_000
    missing = CliRunner().invoke(app, ["monitor", "run", "--cluster", "local"])
    assert missing.exit_code != 0
