"""``loanctl train --cluster``: the training pipeline on a data set larger than one machine.

The stages and their outputs are those of :func:`training.pipeline.run_training`; what changes
is where the rows live (``docs/scale.md`` explains the choices):

* **prepare**: the Parquet data set is read, mapped and validated partition by partition on
  the workers and stays there (``training.distributed.prepare_on_cluster``); the hold-out
  (``test_size``) and the CV folds are drawn per row from seeded uniforms, not stratified.
* **sample**: a uniform sample of at most ``sample_rows`` training rows comes to this process.
  The :class:`FeatureEngineer` vocabulary is learned on it; the candidates that do not scale
  out (logistic regression, decision tree, random forest, SMOTE) are searched and
  cross-validated on it exactly as on one machine; calibration and the reports use it.
* **LightGBM candidates** (without SMOTE): the search runs on the sample (it samples down to
  ``search.max_rows`` anyway), then the cross-validation folds and the final fit run on *all*
  training rows with ``lightgbm.dask`` (``training.distributed``). Their fold metrics are
  measured on all rows; their out-of-fold scores of the sample rows feed the champion rule,
  the calibration and the plots, as for the others.
* **hold-out** metrics are computed on the workers' hold-out rows (their scores come back).
* **register**: unchanged (``training.publish``): the model is an ordinary
  :class:`ScoringModel` around a plain ``LGBMClassifier``; the drift reference is built from
  the sample; the data version is the partitioned hash (``distributed.combined_hash``).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline as ImbPipeline
from threadpoolctl import threadpool_limits

from loan_default.cluster import ClusterSettings, connect
from loan_default.data.io import DataSettings
from loan_default.data.mappings import canonical_mapping, load_mapping
from loan_default.data.prepare import PreparedDataset
from loan_default.data.validation import ValidationConfig, ValidationReport
from loan_default.errors import InputError
from loan_default.fairness import fairness_rows
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.partitions import DEFAULT_BATCH_ROWS, fragments
from loan_default.portfolio import first_rows
from loan_default.schema import LABEL
from loan_default.store import new_version
from training import distributed as dist
from training.calibration import choose_method, cross_fitted, fit_calibrator
from training.candidates import FEATURES_STEP, MODEL_STEP
from training.config import CandidateConfig, TrainingConfig, TrainingSettings
from training.decision import choose_policy
from training.evaluation import CVResult, calibration_error, ranking_metrics, threshold_metrics
from training.pipeline import (
    TrainingResult,
    _timed,
    champion_metrics,
    compare_candidates,
    fit_champion,
)
from training.progress import Progress
from training.publish import Champion, publish
from training.search import search
from training.selection import choose_champion

DEFAULT_SAMPLE_ROWS = 200_000


def _cv(
    cand: CandidateConfig,
    sample: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    train: Any,
    features: FeatureEngineer,
    cfg: TrainingConfig,
    budget: float,
    client: Any,
    progress: Progress,
) -> CVResult:
    X_s, y_s, rows_s = sample
    params: dict[str, Any] = {}
    trials: list[dict[str, Any]] = []
    if cand.search and budget > 0:
        with progress.task(f"search {cand.name} (sample)", cfg.search.max_trials) as advance:
            params, trials = search(cand, X_s, y_s, config=cfg.search, budget_seconds=budget,
                                    seed=cfg.seed, n_jobs=cfg.n_jobs, advance=advance)  # fmt: skip
    start = time.perf_counter()
    with progress.task(f"cv {cand.name} (cluster)", cfg.folds) as advance:
        row, y, fold, oof, first = dist.lightgbm_cv(
            cand, params, train, features, folds=cfg.folds, seed=cfg.seed, client=client,
            advance=advance,
        )  # fmt: skip
    calibrated = cross_fitted(oof, y, "isotonic", seed=cfg.seed)
    policy = choose_policy(calibrated, y, cfg.decision,
                           measured_on="out-of-fold, calibrated (cross-fitted)")  # fmt: skip
    threshold = policy.refer_at
    per_fold = []
    for k in range(cfg.folds):
        mask = fold == k
        metrics = ranking_metrics(y[mask], oof[mask])
        metrics.update(threshold_metrics(y[mask], calibrated[mask], threshold))
        per_fold.append(metrics)
    at = np.searchsorted(row, rows_s)  # the sample rows' own out-of-fold scores
    return CVResult(
        candidate=cand, params=params, folds=per_fold, oof=oof[at], calibrated_oof=calibrated[at],
        threshold=threshold, seconds=time.perf_counter() - start,
        fold_model=ImbPipeline([(FEATURES_STEP, features), (MODEL_STEP, first)]),
        search_trials=trials, policy=policy,
        fairness=fairness_rows(sample[0], policy.decisions(calibrated[at]), calibrated[at],
                               sample[1], cfg.fairness),
    )  # fmt: skip


def _fit_on_cluster(
    best: CVResult, train: Any, features: FeatureEngineer, y_s: np.ndarray,
    cfg: TrainingConfig, client: Any,
) -> Champion:  # fmt: skip
    method, briers = choose_method(best.oof, y_s, cfg.calibration.method, seed=cfg.seed)
    calibrator = fit_calibrator(best.oof, y_s, method)
    policy = choose_policy(
        cross_fitted(best.oof, y_s, method, seed=cfg.seed), y_s, cfg.decision,
        measured_on=f"out-of-fold on the in-memory sample, calibrated ({method}), "
        f"{len(y_s):,} rows",
    )  # fmt: skip
    estimator = dist.fit_lightgbm(best.candidate, best.params, train, features, seed=cfg.seed,
                                  client=client)  # fmt: skip
    return Champion(
        result=best,
        pipeline=ImbPipeline([(FEATURES_STEP, features), (MODEL_STEP, estimator)]),
        model=ScoringModel(features, estimator, calibrator),
        calibration=method,
        calibration_briers=briers,
        threshold=policy.refer_at,
        policy=policy,
        fairness=best.fairness,
        fairness_measured_on="out-of-fold on the in-memory sample",
    )


def _holdout(champion: Champion, test: Any) -> tuple[dict[str, float], int]:
    model = copy.copy(champion.model)
    model.num_threads = 1  # one thread per Dask worker thread

    def score(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"p": model.predict_proba(frame), "y": frame[LABEL].astype("int64")})

    scored = test.map_partitions(score, meta={"p": "f8", "y": "i8"}).compute()
    if len(scored) == 0:
        return {}, 0
    y, p = scored["y"].to_numpy(), scored["p"].to_numpy()
    metrics = ranking_metrics(y, p)
    metrics.update(threshold_metrics(y, p, champion.threshold))
    metrics["calibration_error"] = calibration_error(y, p)
    return metrics, len(scored)


def run_training_on_cluster(
    data: str | Path,
    *,
    cluster: ClusterSettings,
    source: str | None = None,
    config: TrainingConfig | str | Path | None = None,
    reason: str | None = None,
    quiet: bool = False,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> TrainingResult:
    """Train on a Dask cluster and register a challenger (see the module docstring).

    Raises:
        ConfigError, InputError, DataValidationError: bad config, data set or data.
        UnavailableError: the scheduler does not answer.
    """
    cfg = config if isinstance(config, TrainingConfig) else TrainingConfig.load(config)
    settings = TrainingSettings()
    if quiet:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    timings: dict[str, float] = {}
    progress = Progress(quiet=quiet)
    items = fragments(data, batch_rows=batch_rows)
    mapping = load_mapping(source) if source is not None else canonical_mapping()
    validation = ValidationConfig.load()
    stem = Path(data).name.split(".")[0] or "data"
    job = dist.PrepareJob(mapping, validation, datetime.now(UTC), cfg.seed,
                          str(DataSettings().quarantine_path / f"{stem}.quarantine"))  # fmt: skip
    with connect(cluster) as client:
        with _timed(timings, "prepare"):
            frame = dist.prepare_on_cluster(items, first_rows(items), job, client)
            canonical = frame.drop(columns=list(dist.EXTRA))
            sums = canonical.map_partitions(
                dist.digest_sum, meta={"digest": object, "rows": "i8"}
            ).compute()
            rows_in, valid = sum(f.rows for f in items), int(sums["rows"].sum())
            report = ValidationReport(rows_in=rows_in, rows_valid=valid,
                                      max_failure_share=validation.max_failure_share)  # fmt: skip
            report.raise_if_failed()
            labels = frame[LABEL]
            if bool(labels.isna().any().compute()):
                raise InputError(f"{data}: training needs the label {LABEL!r} on every row")
            train = frame[frame[dist.HOLDOUT] >= cfg.test_size]
            test = frame[frame[dist.HOLDOUT] < cfg.test_size]
            n_train = len(train)
            share = min(1.0, sample_rows / max(n_train, 1))
            picked = train[train[dist.SAMPLE] < share].compute().sort_values(dist.ROW)
            X_s = picked.drop(columns=[LABEL, *dist.EXTRA]).reset_index(drop=True)
            y_s = picked[LABEL].astype(int).to_numpy()
            if len(np.unique(y_s)) < 2 or min(np.bincount(y_s)) < 10:
                raise InputError(f"{data}: the sample needs at least 10 rows of each outcome")
            features = FeatureEngineer().fit(X_s)
        progress.say(
            f"data: {valid:,} valid rows of {rows_in:,} in {len(items)} partitions on "
            f"{cluster.cluster}; {n_train:,} for training, sample of {len(y_s):,} in memory"
        )
        searched = [c for c in cfg.candidates if c.search]
        budget = cfg.search.budget_seconds / max(len(searched), 1)
        local = [c for c in cfg.candidates if not dist.is_distributed(c)]
        with threadpool_limits(limits=1), progress:
            with _timed(timings, "cv"):
                results: list[CVResult] = []
                if local:
                    subset = cfg.model_copy(update={"candidates": local})
                    results += compare_candidates(X_s, y_s, subset, progress)
                for cand in cfg.candidates:
                    if dist.is_distributed(cand):
                        results.append(_cv(cand, (X_s, y_s, picked[dist.ROW].to_numpy()), train,
                                           features, cfg, budget, client, progress))  # fmt: skip
                order = [c.name for c in cfg.candidates]
                results.sort(key=lambda r: order.index(r.name))
            with _timed(timings, "calibrate"):
                best = choose_champion(results, y_s)
                if dist.is_distributed(best.candidate):
                    champion = _fit_on_cluster(best, train, features, y_s, cfg, client)
                else:
                    champion = fit_champion(best, X_s, y_s, cfg)
                champion.fairness = best.fairness
                champion.fairness_measured_on = "out-of-fold on the in-memory sample"
                holdout, holdout_rows = _holdout(champion, test) if cfg.test_size > 0 else ({}, 0)
                metrics = champion_metrics(champion, holdout, holdout_rows)
    prepared = PreparedDataset(
        frame=picked.drop(columns=list(dist.EXTRA)).reset_index(drop=True),
        report=report,
        data_hash=dist.combined_hash(sums, [str(c) for c in canonical.columns]),
        source=mapping.name,
        path=Path(data),
        rows_in=rows_in,
        rows_quarantined=rows_in - valid,
    )
    run_id = new_version()
    run_dir = settings.runs_path / run_id
    published = publish(
        run_id=run_id, run_dir=run_dir, prepared=prepared, results=results, champion=champion,
        y=y_s, metrics=metrics, config=cfg, settings=settings,
        reason=reason or f"distributed training on {cluster.cluster}", timings=timings,
        progress=progress,
    )  # fmt: skip
    (run_dir / "timings.json").write_text(json.dumps(timings, indent=1))
    return TrainingResult(
        run_id=run_id, run_dir=run_dir, champion=champion.result.name,
        bento_tag=published.bento_tag, mlflow_version=published.mlflow_version,
        mlflow_run_id=published.mlflow_run_id, metrics=metrics, table=published.table,
        timings=timings,
    )  # fmt: skip
