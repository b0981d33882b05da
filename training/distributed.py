"""The pieces of ``loanctl train --cluster`` that run on Dask workers.

* :func:`prepare_on_cluster`: the data set read as a Dask DataFrame (one partition per
  ``loan_default.partitions`` fragment), each partition mapped and validated on its worker
  (rejected rows written to ``<quarantine dir>/<stem>.quarantine/part-NNNNN.parquet``), with
  three seeded uniforms per row (hold-out, CV fold, sample) and a global row number; persisted
  in the workers' memory for the folds.
* :func:`lightgbm_cv` and :func:`fit_lightgbm`: ``lightgbm.dask.DaskLGBMClassifier`` with the
  candidate's own parameters (``training.candidates``), data-parallel over the workers, on the
  feature matrix built per partition by the :class:`FeatureEngineer`. The fitted model comes
  back as an ordinary :class:`lightgbm.LGBMClassifier` (``to_local()``), so the registered
  :class:`ScoringModel` is the same kind of object as after a single-machine run.

Class weights (``class_weight: balanced``) are computed once on the whole training set and
passed as sample weights, so every worker weighs the classes alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loan_default.data.io import write_table
from loan_default.data.prepare import quarantine_frame
from loan_default.data.sources import SourceMapping, map_frame
from loan_default.data.validation import ValidationConfig, validate
from loan_default.data.versioning import HASH_VERSION, row_digests
from loan_default.features import FeatureEngineer
from loan_default.partitions import Fragment
from loan_default.portfolio import part_name
from loan_default.schema import LABEL, coerce_frame
from training.candidates import _estimator
from training.config import CandidateConfig, Imbalance

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

ROW, HOLDOUT, FOLD, SAMPLE = "_row", "_holdout", "_fold", "_sample"
EXTRA = (ROW, HOLDOUT, FOLD, SAMPLE)


@dataclass(frozen=True, slots=True)
class PrepareJob:
    mapping: SourceMapping
    validation: ValidationConfig
    now: datetime
    seed: int
    quarantine: str


def _prepare(
    raw: pd.DataFrame, fragment: Fragment, first_row: int, job: PrepareJob
) -> pd.DataFrame:
    imported = map_frame(raw.reset_index(drop=True), job.mapping, origin=fragment.path)
    checked = validate(imported.data, job.validation, now=job.now, enforce=False)
    rejected = quarantine_frame(imported, checked.quarantine)
    if len(rejected):
        write_table(rejected, Path(job.quarantine) / part_name(fragment.index))
    valid = checked.valid
    rng = np.random.default_rng([job.seed, fragment.index])
    u = rng.random((len(raw), 3))[valid.index.to_numpy()]
    return valid.assign(
        **{ROW: valid.index.to_numpy(dtype="int64") + first_row, HOLDOUT: u[:, 0],
           FOLD: u[:, 1], SAMPLE: u[:, 2]}
    ).reset_index(drop=True)  # fmt: skip


def _read_and_prepare(fragment: Fragment, first_row: int, job: PrepareJob) -> pd.DataFrame:
    from loan_default.partitions import read_fragment

    return _prepare(read_fragment(fragment), fragment, first_row, job)


def prepare_on_cluster(
    items: list[Fragment], starts: list[int], job: PrepareJob, client: Client
) -> dd.DataFrame:
    """The valid canonical rows with their uniforms, persisted on the workers."""
    import dask.dataframe as dd

    meta = coerce_frame(pd.DataFrame(), with_label=True).assign(
        **{ROW: pd.Series(dtype="int64"), HOLDOUT: pd.Series(dtype="f8"),
           FOLD: pd.Series(dtype="f8"), SAMPLE: pd.Series(dtype="f8")}
    )  # fmt: skip
    frame = dd.from_map(_read_and_prepare, items, starts, job=job, meta=meta,
                        enforce_metadata=False)  # fmt: skip
    return client.persist(frame)


def digest_sum(frame: pd.DataFrame) -> pd.DataFrame:
    """One row: the sum of the partition's row digests mod 2**256 (as hex), and its rows."""
    total = sum(int.from_bytes(d, "big") for d in row_digests(frame)) % (1 << 256)
    return pd.DataFrame({"digest": [f"{total:064x}"], "rows": [len(frame)]})


def combined_hash(sums: pd.DataFrame, columns: list[str]) -> str:
    """The partitioned data version: SHA-256 of a header and the sum of all row digests.

    Row order and partitioning do not matter; a row more, less or changed does. It differs
    from :func:`loan_default.data.versioning.data_hash` (sorted digests, which needs every digest in
    one place) and says so in its header.
    """
    total = sum(int(h, 16) for h in sums["digest"]) % (1 << 256)
    header = f"{HASH_VERSION}+sum\n{','.join(columns)}\n".encode()
    return hashlib.sha256(header + total.to_bytes(32, "big")).hexdigest()


def is_distributed(cand: CandidateConfig) -> bool:
    """LightGBM without SMOTE trains on the cluster; SMOTE and the others on the sample."""
    return cand.algorithm.value == "lightgbm" and cand.imbalance is not Imbalance.SMOTE


def _features(frame: pd.DataFrame, features: FeatureEngineer) -> pd.DataFrame:
    names = [str(n) for n in features.get_feature_names_out()]
    return pd.DataFrame(features.transform(frame), columns=names, index=frame.index)


def _dask_model(cand: CandidateConfig, params: dict[str, Any], seed: int, client: Client) -> Any:
    from lightgbm.dask import DaskLGBMClassifier

    local = _estimator(cand, {**cand.params, **params}, seed=seed).get_params()
    local.pop("class_weight", None)  # global weights below, as sample weights
    return DaskLGBMClassifier(client=client, class_weight=None, **local)


def _weights(y: dd.Series, cand: CandidateConfig, counts: np.ndarray) -> dd.Series | None:
    if cand.imbalance is not Imbalance.CLASS_WEIGHT:
        return None
    total = counts.sum()
    w0, w1 = total / (2 * counts[0]), total / (2 * counts[1])
    return y.map_partitions(lambda s: pd.Series(np.where(s == 1, w1, w0), index=s.index),
                            meta=(None, "f8"))  # fmt: skip


def fit_lightgbm(
    cand: CandidateConfig,
    params: dict[str, Any],
    frame: dd.DataFrame,
    features: FeatureEngineer,
    *,
    seed: int,
    client: Client,
) -> Any:
    """A DaskLGBMClassifier fitted on ``frame`` (canonical rows with the label), made local."""
    X = frame.map_partitions(_features, features, meta=_features(frame._meta, features))
    y = frame[LABEL].astype("int64")
    counts = np.bincount(y.compute().to_numpy(), minlength=2)
    model = _dask_model(cand, params, seed, client)
    model.fit(X, y, sample_weight=_weights(y, cand, counts),
              categorical_feature=list(features.categorical_indices_))  # fmt: skip
    return model.to_local()


def lightgbm_cv(
    cand: CandidateConfig,
    params: dict[str, Any],
    train: dd.DataFrame,
    features: FeatureEngineer,
    *,
    folds: int,
    seed: int,
    client: Client,
    advance: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """Out-of-fold probabilities of every training row, fitted fold by fold on the cluster.

    Returns ``(row, y, fold, oof, first fold's local model)``, ordered by global row number.
    """
    fold_of = (train[FOLD] * folds).astype("int64")
    rows, ys, fold_ids, predictions, first = [], [], [], [], None
    for k in range(folds):
        fitted = fit_lightgbm(cand, params, train[fold_of != k], features, seed=seed,
                              client=client)  # fmt: skip
        first = first if first is not None else fitted
        held = train[fold_of == k]
        scored = held.map_partitions(_score_rows, fitted, features,
                                     meta={ROW: "i8", LABEL: "i8", "p": "f8"})  # fmt: skip
        part = scored.compute()
        rows.append(part[ROW].to_numpy())
        ys.append(part[LABEL].to_numpy())
        predictions.append(part["p"].to_numpy())
        fold_ids.append(np.full(len(part), k))
        if advance is not None:
            advance()
    row = np.concatenate(rows)
    order = np.argsort(row, kind="stable")
    return (row[order], np.concatenate(ys)[order], np.concatenate(fold_ids)[order],
            np.concatenate(predictions)[order], first)  # fmt: skip


def _score_rows(frame: pd.DataFrame, model: Any, features: FeatureEngineer) -> pd.DataFrame:
    p = model.predict_proba(features.transform(frame), num_threads=1)[:, 1]
    return pd.DataFrame({ROW: frame[ROW].to_numpy(), LABEL: frame[LABEL].astype("int64"), "p": p})
