"""Portfolio scoring: streamed and on a LocalCluster, the same scores as the model, in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loan_default.cluster import ClusterSettings
from loan_default.data.generate import generate_applications
from loan_default.errors import DataValidationError
from loan_default.partitions import fragments
from loan_default.portfolio import INPUT_ROW, PROBABILITY
from loan_default.store import LoadedModel, load_model
from tests.runners import tiny_model
from training.portfolio import predict_dataset

ROWS = 2_400
BAD = {5: ("credit_amount", -10.0), 777: ("age_days", np.nan), 1_901: ("loan_annuity", 9e12)}


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    tag, _, _ = tiny_model.build(version="vtest-portfolio")
    return load_model(tag)


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Two files with row groups of 500 rows; three rows break the rules (one per rule kind)."""
    frame = generate_applications(ROWS, seed=3)
    for row, (name, value) in BAD.items():
        frame.loc[row, name] = value
    folder = tmp_path_factory.mktemp("portfolio") / "in"
    folder.mkdir()
    half = ROWS // 2
    for i, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=500)
    return folder, frame


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterSettings]:
    """The settings of one LocalCluster shared by this module's cluster tests."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    ) as local:
        yield ClusterSettings(cluster=str(local.scheduler_address))


def read_parts(out: Path, folder: str = "") -> pd.DataFrame:
    parts = (
        sorted((out / folder).glob("part-*.parquet"))
        if folder
        else sorted(out.glob("part-*.parquet"))
    )
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_partitions_are_row_group_slices(portfolio: tuple[Path, pd.DataFrame]) -> None:
    folder, _ = portfolio
    items = fragments(folder, batch_rows=300)
    # 2 files x 3 row groups of 500 (the last of 200), each cut into slices of 300
    assert [f.rows for f in items[:4]] == [300, 200, 300, 200]
    assert sum(f.rows for f in items) == ROWS
    assert [f.index for f in items] == list(range(len(items)))


def test_streamed_and_cluster_scores_equal_the_model_row_by_row(
    portfolio: tuple[Path, pd.DataFrame],
    model: LoadedModel,
    cluster: ClusterSettings,
    tmp_path: Path,
) -> None:
    folder, frame = portfolio
    streamed = predict_dataset(
        folder, out=tmp_path / "streamed", model=model, batch_rows=300, quiet=True
    )
    on_cluster = predict_dataset(
        folder, out=tmp_path / "cluster", model=model, batch_rows=300, quiet=True,
        cluster=cluster,
    )  # fmt: skip
    assert streamed.partitions == on_cluster.partitions == 10
    assert (streamed.scored, streamed.quarantined) == (ROWS - len(BAD), len(BAD))
    assert streamed.by_rule == on_cluster.by_rule
    assert {"range", "completeness"} <= set(streamed.by_rule)
    a, b = read_parts(tmp_path / "streamed"), read_parts(tmp_path / "cluster")
    # Input order, every row accounted for: scored + quarantined = each input row once.
    assert a[INPUT_ROW].is_monotonic_increasing
    quarantined = read_parts(tmp_path / "streamed", "quarantine")
    assert sorted(quarantined[INPUT_ROW]) == sorted(BAD)
    assert sorted([*a[INPUT_ROW], *quarantined[INPUT_ROW]]) == list(range(ROWS))
    assert (a["application_id"] == frame["application_id"].drop(index=list(BAD)).values).all()
    # The cluster wrote the very same rows and scores.
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)
    # And they are the registered model's own scores of the whole frame in one process.
    expected = model.model.predict_proba(frame.drop(index=list(BAD)))
    np.testing.assert_allclose(a[PROBABILITY].to_numpy(), expected, rtol=0, atol=1e-12)
    manifest = json.loads((tmp_path / "cluster" / "manifest.json").read_text())
    assert manifest["scored"] + manifest["quarantined"] == manifest["rows_in"] == ROWS


def test_too_many_bad_rows_fail_after_writing_the_quarantine(
    model: LoadedModel, tmp_path: Path
) -> None:
    frame = generate_applications(200, seed=4)
    frame.loc[: len(frame) // 2, "credit_amount"] = -1.0
    frame.to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(DataValidationError, match="above the maximum"):
        predict_dataset(tmp_path / "bad.parquet", out=tmp_path / "out", model=model, quiet=True)
    assert len(read_parts(tmp_path / "out", "quarantine")) == 101


def test_cli_scores_a_parquet_folder_and_refuses_a_csv_on_a_cluster(
    portfolio: tuple[Path, pd.DataFrame], model: LoadedModel, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from loanctl.cli import app

    folder, frame = portfolio
    out = tmp_path / "scores"
    run = CliRunner().invoke(
        app, ["predict", "--data", str(folder), "--out", str(out), "--model", model.tag, "--quiet"]
    )
    assert run.exit_code == 0, run.output
    assert "scored 2,397 of 2,400 rows in 6 partitions (streamed" in run.output
    assert "3 rows failed validation" in run.output
    frame.head(100).to_csv(tmp_path / "small.csv", index=False)
    csv = CliRunner().invoke(
        app, ["predict", "--data", str(tmp_path / "small.csv"), "--out", str(tmp_path / "s.csv"),
              "--model", model.tag],
    )  # fmt: skip
    assert csv.exit_code == 0, csv.output  # the single-file path still works
    assert len(pd.read_csv(tmp_path / "s.csv")) == 99  # row 5 is one of the bad rows
    refused = CliRunner().invoke(
        app, ["predict", "--data", str(tmp_path / "small.csv"), "--out", str(tmp_path / "x.csv"),
              "--cluster", "local"],
    )  # fmt: skip
    assert refused.exit_code != 0
