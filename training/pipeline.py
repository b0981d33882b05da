"""``loanctl train``: prepare, compare candidates, calibrate, report, track and register.

Stages (each timed in :attr:`TrainingResult.timings`): ``prepare`` (import + validate + hash),
``cv`` (search + cross-validation of every candidate), ``calibrate`` (champion: calibration
map on its out-of-fold predictions, refit on the training rows, hold-out evaluation),
``report`` (tables and plots under ``<runs>/<run id>/``), ``register`` (MLflow runs, the pyfunc
model and its registry version with alias ``challenger``, the Bento model with its metadata and
drift reference). Training never promotes: ``loanctl models promote`` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from loan_default.data.prepare import PreparedDataset, prepare_dataset
from loan_default.decision import outcome_rates
from loan_default.errors import InputError
from loan_default.fairness import FairnessRules, fairness_rows
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.schema import LABEL
from loan_default.store import new_version
from loan_default.training_metrics import METRICS, Spread, TrainingMetrics
from training.blending import cross_validate_blend, fit_blend
from training.calibration import choose_method, cross_fitted, fit_calibrator
from training.candidates import build_pipeline, fit_params, scoring_estimator
from training.config import Algorithm, TrainingConfig, TrainingSettings
from training.decision import choose_policy
from training.evaluation import (
    CVResult,
    calibration_error,
    cross_validate,
    ranking_metrics,
    threshold_metrics,
)
from training.feature_join import join_feature_store
from training.holdout import candidate_holdout
from training.importance import field_importance, pipeline_predict
from training.output import library_output
from training.progress import Progress
from training.publish import Champion, publish
from training.search import search
from training.selection import RULE, choose_champion


@dataclass
class TrainingResult:
    """What a training run produced."""

    run_id: str
    run_dir: Path
    champion: str
    bento_tag: str
    mlflow_version: str
    mlflow_run_id: str
    metrics: TrainingMetrics
    table: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    fitted_rows: int = 0
    """Labelled rows the registered model was fitted on."""
    fitted_on: str = "training_rows"
    """``all_rows`` (final fit after the hold-out estimate) or ``training_rows``."""


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 2)


def _labelled(prepared: PreparedDataset) -> tuple[pd.DataFrame, np.ndarray]:
    frame = prepared.frame
    if LABEL not in frame.columns or frame[LABEL].isna().any():
        raise InputError(f"{prepared.path}: training needs the label {LABEL!r} on every row")
    y = frame[LABEL].astype(int).to_numpy()
    if len(np.unique(y)) < 2 or min(np.bincount(y)) < 10:
        raise InputError(
            f"{prepared.path}: training needs at least 10 rows of each outcome of {LABEL!r}, "
            f"got {np.bincount(y, minlength=2).tolist()}"
        )
    return frame.drop(columns=[LABEL]), y


def compare_candidates(
    X: pd.DataFrame, y: np.ndarray, config: TrainingConfig, progress: Progress
) -> list[CVResult]:
    """Search (within the budget) and cross-validate every configured candidate.

    Blends are judged last, from their parts' out-of-fold scores (:mod:`training.blending`).
    Each candidate's permutation importance is measured on its first fold's validation rows.
    """
    searched = [c for c in config.candidates if c.search]
    share = config.search.budget_seconds / max(len(searched), 1)
    results: list[CVResult] = []
    for cand in config.candidates:
        if cand.algorithm is Algorithm.BLEND:
            continue
        params: dict[str, object] = {}
        trials: list[dict[str, object]] = []
        if cand.search and share > 0:
            with progress.task(f"search {cand.name}", config.search.max_trials) as advance:
                params, trials = search(
                    cand,
                    X,
                    y,
                    config=config.search,
                    budget_seconds=share,
                    seed=config.seed,
                    n_jobs=config.n_jobs,
                    advance=advance,
                )
        with progress.task(f"cv {cand.name}", config.folds + 1) as advance:
            result = cross_validate(
                cand,
                X,
                y,
                params=params,
                folds=config.folds,
                seed=config.seed,
                n_jobs=config.n_jobs,
                decision=config.decision,
                advance=advance,
            )
            assert result.fold_of is not None
            rows = result.fold_of == 0
            result.importance = field_importance(
                pipeline_predict(result.fold_model), X[rows], y[rows],
                seed=config.seed, repeats=config.importance_repeats,
            )  # fmt: skip
            advance()
        result.search_trials = trials
        results.append(result)
    by_name = {r.name: r for r in results}
    for cand in config.candidates:
        if cand.algorithm is Algorithm.BLEND:
            results.append(
                cross_validate_blend(
                    cand, [by_name[p] for p in cand.parts], y,
                    seed=config.seed, decision=config.decision,
                )
            )  # fmt: skip
    for res in results:
        assert res.policy is not None
        res.fairness = fairness_rows(
            X, res.policy.decisions(res.calibrated_oof), res.calibrated_oof, y, config.fairness
        )
    return results


def _fit_model(
    best: CVResult,
    results: list[CVResult],
    X: pd.DataFrame,
    y: np.ndarray,
    seed: int,
    y_oof: np.ndarray,
) -> tuple[Any, FeatureEngineer, Any]:
    """(pipeline or None for a blend, features, estimator) of ``best`` fitted on ``X``."""
    if best.candidate.algorithm is Algorithm.BLEND:
        by_name = {r.name: r for r in results}
        parts = [by_name[p] for p in best.candidate.parts]
        features, blend = fit_blend(best.candidate, parts, X, y, seed=seed, y_oof=y_oof)
        return None, features, blend
    pipeline = build_pipeline(best.candidate, best.params, seed=seed)
    pipeline.fit(X, y, **fit_params(best.candidate))
    features, estimator = scoring_estimator(pipeline)
    return pipeline, features, estimator


def fit_champion(
    best: CVResult,
    X: pd.DataFrame,
    y: np.ndarray,
    config: TrainingConfig,
    results: list[CVResult] | None = None,
) -> Champion:
    """Calibrate on the champion's out-of-fold predictions and refit it on all training rows."""
    method, briers = choose_method(best.oof, y, config.calibration.method, seed=config.seed)
    calibrator = fit_calibrator(best.oof, y, method)
    policy = choose_policy(
        cross_fitted(best.oof, y, method, seed=config.seed), y, config.decision,
        measured_on=f"out-of-fold, calibrated ({method}, cross-fitted), {len(y):,} rows",
    )  # fmt: skip
    pipeline, features, estimator = _fit_model(best, results or [best], X, y, config.seed, y)
    model = ScoringModel(features, estimator, calibrator)
    return Champion(
        result=best,
        pipeline=pipeline,
        model=model,
        calibration=method,
        calibration_briers=briers,
        threshold=policy.refer_at,
        fitted_rows=len(y),
        policy=policy,
    )


def refit_on_all_rows(
    champion: Champion,
    results: list[CVResult],
    X_all: pd.DataFrame,
    y_all: np.ndarray,
    config: TrainingConfig,
    y_train: np.ndarray,
) -> Champion:
    """The same recipe fitted on every labelled row (training + hold-out).

    The calibration map and the threshold stay those of the cross-validation (fitted on
    out-of-fold scores, which the extra rows do not change in kind); the hold-out figures
    describe the recipe fitted on the training rows only.
    """
    pipeline, features, estimator = _fit_model(
        champion.result, results, X_all, y_all, config.seed, y_oof=y_train
    )
    model = ScoringModel(features, estimator, champion.model.calibrator)
    return replace(
        champion, pipeline=pipeline, model=model, fitted_rows=len(y_all), fitted_on="all_rows"
    )


def holdout_metrics(
    champion: Champion, X: pd.DataFrame, y: np.ndarray, rules: FairnessRules | None = None
) -> dict[str, float]:
    """The calibrated champion on rows it never saw, at its decision (also its fairness there,
    kept in ``champion.fairness``)."""
    p = champion.model.predict_proba(X)
    metrics = ranking_metrics(y, p)
    metrics.update(threshold_metrics(y, p, champion.threshold))
    metrics["calibration_error"] = calibration_error(y, p)
    policy = champion.policy
    assert policy is not None
    decided = policy.decisions(p)
    rates = outcome_rates(policy, p, y)
    metrics.update({k: v for k, v in rates.items() if k != "rows"})
    champion.fairness = fairness_rows(X, decided, p, y, rules)
    champion.fairness_measured_on = f"hold-out, {len(y):,} rows never seen in fitting"
    return metrics


def champion_metrics(
    champion: Champion, holdout: dict[str, float], holdout_rows: int
) -> TrainingMetrics:
    """The champion's figures: mean and spread over its CV folds, and the hold-out ones."""
    table = pd.DataFrame(champion.result.folds)
    return TrainingMetrics(
        cv={
            m: Spread(mean=float(table[m].mean()), std=float(table[m].std(ddof=1))) for m in METRICS
        },
        folds=len(table),
        holdout=holdout,
        holdout_rows=holdout_rows if holdout else None,
        decision_threshold=champion.threshold,
        calibration_brier=champion.calibration_briers[champion.calibration],
    )


def run_training(
    data: str | Path | PreparedDataset,
    *,
    source: str | None = None,
    config: TrainingConfig | str | Path | None = None,
    reason: str | None = None,
    quiet: bool = False,
    verbose: bool = False,
) -> TrainingResult:
    """Train, compare, calibrate and register a new challenger (see the module docstring).

    Args:
        data: a data file (canonical, or in ``source``'s layout) or an already prepared set.
        source: the source mapping of ``data`` (``configs/sources/<name>.yaml``).
        config: a :class:`TrainingConfig` or its YAML (default ``configs/training.yaml``).
        reason: why this run happened (e.g. a monitoring trigger); recorded in MLflow.
        quiet: no progress bars or stage messages.
        verbose: the libraries' own logs and warnings on stderr too (always in the run
            folder's ``library.log``).

    Raises:
        ConfigError, InputError, DataValidationError: bad config, file or data.
    """
    started_at = time.time()
    cfg = config if isinstance(config, TrainingConfig) else TrainingConfig.load(config)
    settings = TrainingSettings()
    run_id = new_version()
    run_dir = settings.runs_path / run_id
    with library_output(run_dir / "library.log", verbose=verbose):
        return _train(data, source, cfg, settings, run_id, run_dir, reason, quiet, started_at)


def _train(
    data: str | Path | PreparedDataset,
    source: str | None,
    cfg: TrainingConfig,
    settings: TrainingSettings,
    run_id: str,
    run_dir: Path,
    reason: str | None,
    quiet: bool,
    started_at: float,
) -> TrainingResult:
    timings: dict[str, float] = {}
    progress = Progress(quiet=quiet)
    with _timed(timings, "prepare"):
        prepared = data if isinstance(data, PreparedDataset) else (
            prepare_dataset(data, source=source)
        )  # fmt: skip
        if settings.feature_store_join:
            prepared = join_feature_store(prepared)
        X_all, y_all = _labelled(prepared)
    progress.say(
        f"data: {len(X_all):,} valid rows of {prepared.rows_in:,} ({prepared.rows_quarantined:,} "
        f"quarantined), default rate {y_all.mean():.2%}, hash {prepared.data_hash[:12]}"
    )
    if cfg.test_size > 0:
        X, X_test, y, y_test = train_test_split(
            X_all, y_all, test_size=cfg.test_size, stratify=y_all, random_state=cfg.seed
        )
    else:
        X, X_test, y, y_test = X_all, X_all.iloc[:0], y_all, y_all[:0]
    with threadpool_limits(limits=1), progress:
        with _timed(timings, "cv"):
            results = compare_candidates(X, y, cfg, progress)
        with _timed(timings, "calibrate"):
            champion = fit_champion(choose_champion(results, y), X, y, cfg, results)
            holdout = holdout_metrics(champion, X_test, y_test, cfg.fairness) if len(y_test) else {}
            metrics = champion_metrics(champion, holdout, len(y_test))
            if len(y_test):
                champion.importance = field_importance(
                    champion.model.predict_proba, X_test, y_test,
                    seed=cfg.seed, repeats=cfg.importance_repeats,
                )  # fmt: skip
                figures = candidate_holdout(results, X, y, X_test, y_test, seed=cfg.seed)
                for res in results:
                    res.holdout = figures[res.name]
                if cfg.final_fit == "all_rows":
                    champion = refit_on_all_rows(champion, results, X_all, y_all, cfg, y)
            else:
                champion.importance = champion.result.importance
                champion.fairness = champion.result.fairness
                champion.fairness_measured_on = "out-of-fold (no hold-out kept)"
    published = publish(
        run_id=run_id,
        run_dir=run_dir,
        prepared=prepared,
        results=results,
        champion=champion,
        y=y,
        metrics=metrics,
        config=cfg,
        settings=settings,
        reason=reason,
        timings=timings,
        progress=progress,
        started_at=started_at,
    )
    (run_dir / "timings.json").write_text(json.dumps(timings, indent=1))
    return TrainingResult(
        run_id=run_id,
        run_dir=run_dir,
        champion=champion.result.name,
        bento_tag=published.bento_tag,
        mlflow_version=published.mlflow_version,
        mlflow_run_id=published.mlflow_run_id,
        metrics=metrics,
        table=published.table,
        timings=timings,
        fitted_rows=champion.fitted_rows,
        fitted_on=champion.fitted_on,
    )


__all__ = ["RULE", "TrainingResult", "run_training"]
