"""A small random hyper-parameter search within a wall-clock budget.

Trials run on a stratified sample of the training rows (``search.max_rows``) with a cheaper
k-fold (``search.folds``), and are scored by mean ROC AUC. The first trial is always the
configured parameters, so the search can only replace them with something that measured
better. A trial that starts before the deadline runs to its end; none starts after it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from training.candidates import build_pipeline
from training.config import CandidateConfig, SearchConfig
from training.evaluation import oof_predictions


def sample_settings(space: dict[str, list[Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """Up to ``count`` distinct settings drawn from the grid ``space`` (seeded, no repeats)."""
    if not space:
        return []
    names = sorted(space)
    grid = list(itertools.product(*(space[n] for n in names)))
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(grid))[:count]
    return [dict(zip(names, grid[i], strict=True)) for i in chosen]


def _score(
    cand: CandidateConfig,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    folds: int,
    seed: int,
    n_jobs: int,
) -> float:
    pipeline = build_pipeline(cand, params, seed=seed)
    oof, fold_of, _ = oof_predictions(pipeline, cand, X, y, folds=folds, seed=seed, n_jobs=n_jobs)
    return float(np.mean([roc_auc_score(y[fold_of == k], oof[fold_of == k]) for k in range(folds)]))


def search(
    cand: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    config: SearchConfig,
    budget_seconds: float,
    seed: int,
    n_jobs: int,
    advance: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Best parameters found for ``cand`` and every trial (params, AUC, seconds).

    Returns ``({}, [])`` when the candidate has no search space or the budget is zero.
    """
    if not cand.search or budget_seconds <= 0:
        return {}, []
    if len(y) > config.max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=config.max_rows, stratify=y, random_state=seed
        )
    deadline = time.perf_counter() + budget_seconds
    settings = [{}, *sample_settings(cand.search, config.max_trials - 1, seed)]
    trials: list[dict[str, Any]] = []
    for params in settings:
        if time.perf_counter() >= deadline:
            break
        start = time.perf_counter()
        auc = _score(cand, params, X, y, folds=config.folds, seed=seed, n_jobs=n_jobs)
        trials.append({"params": params, "roc_auc": auc, "seconds": time.perf_counter() - start})
        if advance is not None:
            advance()
    best = max(trials, key=lambda t: t["roc_auc"])
    return dict(best["params"]), trials
