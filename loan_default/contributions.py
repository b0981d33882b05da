"""Per-row feature contributions, and the raw score they add up to, for every algorithm.

:meth:`loan_default.model.ScoringModel.contributions_matrix` calls :func:`contributions` for
estimators other than a bare LightGBM model. Each method returns an ``(n, n_features + 1)``
array over the FeatureEngineer's columns whose last column is the base value and whose rows sum
to the model's **raw score** (:func:`raw_scores`: the margin before the registered model's
calibration map):

* LightGBM (behind an imputer): ``pred_contrib`` (exact TreeSHAP); raw score = the booster's
  ``raw_score`` (log-odds); base = its expected value;
* decision trees and random forests: path attribution (Saabas): each split on a row's path
  credits the change of the node's default share to the split's feature, averaged over the
  trees; base = the root's share; raw score = ``predict_proba`` of default (a forest's mean leaf
  share; units probability). Exact (the path telescopes to the leaf), computed from the fitted
  trees without a new dependency; unlike TreeSHAP it credits a split's feature with the whole
  change at that split, so features near the root can weigh more than under SHAP;
* logistic regression: coefficient x preprocessed input, summed back onto the feature column
  each one-hot or scaled input came from; base = intercept; raw score = ``decision_function``
  (log-odds);
* WoE scorecards: the log-odds each characteristic lost against its best bin (points lost /
  factor, never negative); base = the log-odds of an applicant in every best bin
  (:meth:`loan_default.scorecard.WoEScorecard.contributions`); raw score =
  ``decision_function`` (log-odds);
* blends: raw score = the blend's probability (the weighted mean of its parts' calibrated
  probabilities); each part's contributions are rescaled onto its calibrated probability
  (:meth:`loan_default.blend.BlendEstimator.contributions`); units probability.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_INPUT = re.compile(r"(?:^|__)f(\d+)(?:_|$)")


def linear_terms_map(preprocess: Any, n_features: int) -> np.ndarray:
    """For each output column of a fitted preprocessing step, the feature column it came from.

    Works for any transformer with ``get_feature_names_out`` that keeps the input's name as a
    prefix (ColumnTransformer, OneHotEncoder, imputers, scalers), e.g.
    ``categorical__f3_infrequent_sklearn`` -> 3.
    """
    names = preprocess.get_feature_names_out([f"f{i}" for i in range(n_features)])
    out = np.empty(len(names), dtype=np.intp)
    for j, name in enumerate(names):
        match = _INPUT.search(str(name))
        if match is None:
            raise TypeError(f"cannot map preprocessed column {name!r} back to a feature")
        out[j] = int(match.group(1))
    return out


def _split(estimator: Any, X: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """(preprocessing or None, final model, X after preprocessing)."""
    if hasattr(estimator, "steps"):
        head = estimator[:-1] if len(estimator.steps) > 1 else None
        model = estimator.steps[-1][1]
        return head, model, (head.transform(X) if head is not None else X)
    return None, estimator, X


def _tree_paths(tree: Any, X: np.ndarray, out: np.ndarray) -> None:
    """Add one fitted sklearn tree's Saabas contributions (default share) into ``out``."""
    structure = tree.tree_
    value = structure.value[:, 0, :]
    share = value[:, 1] / value.sum(axis=1)
    paths = tree.decision_path(X)
    nodes, indptr = paths.indices, paths.indptr
    rows = np.repeat(np.arange(X.shape[0]), np.diff(indptr))
    step = np.ones(len(nodes), dtype=bool)
    step[indptr[1:] - 1] = False  # the last node of each path (a leaf) has no child
    parent = nodes[step]
    child = nodes[np.flatnonzero(step) + 1]
    np.add.at(out, (rows[step], structure.feature[parent]), share[child] - share[parent])
    out[:, -1] += share[0]


def _tree_contributions(model: Any, X: np.ndarray) -> np.ndarray:
    out = np.zeros((X.shape[0], X.shape[1] + 1))
    trees = getattr(model, "estimators_", [model])
    for tree in trees:
        _tree_paths(tree, X, out)
    return out / len(trees)


def contributions(estimator: Any, X: np.ndarray, *, num_threads: int = 0) -> np.ndarray:
    """Per-row contributions of each feature column, last column the base value.

    Raises:
        TypeError: the estimator is none of the supported kinds.
    """
    X = np.asarray(X, dtype=np.float64)
    if hasattr(estimator, "contributions") and not hasattr(estimator, "steps"):
        # WoEScorecard and BlendEstimator explain themselves.
        own: np.ndarray = estimator.contributions(X) if not hasattr(estimator, "parts") else (
            estimator.contributions(X, num_threads=num_threads)
        )  # fmt: skip
        return own
    head, model, Xt = _split(estimator, X)
    booster = getattr(model, "booster_", None)
    if booster is not None and type(booster).__module__.startswith("lightgbm"):
        contrib = booster.predict(Xt, pred_contrib=True, num_threads=num_threads)
        return np.asarray(contrib, dtype=np.float64)
    if _is_trees(model):
        return _tree_contributions(model, np.asarray(Xt, dtype=np.float32))
    coef = getattr(model, "coef_", None)
    if coef is not None and np.ndim(coef) == 2 and coef.shape[0] == 1:
        terms = np.asarray(Xt, dtype=np.float64) * coef[0]
        out = np.zeros((X.shape[0], X.shape[1] + 1))
        if head is None:
            out[:, :-1] = terms
        else:
            mapping = linear_terms_map(head, X.shape[1])
            for j, target in enumerate(mapping):
                out[:, target] += terms[:, j]
        out[:, -1] = float(model.intercept_[0])
        return out
    raise TypeError(f"per-row contributions are not available for {type(model).__name__}")


def _is_trees(model: Any) -> bool:
    return hasattr(model, "tree_") or (
        hasattr(model, "estimators_") and hasattr(model.estimators_[0], "tree_")
    )


def raw_in_probability(estimator: Any) -> bool:
    """True when the raw score is a probability (trees, forests, blends), False for log-odds."""
    if hasattr(estimator, "parts"):
        return True
    return _is_trees(_split_model(estimator))


def _split_model(estimator: Any) -> Any:
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def raw_scores(estimator: Any, X: np.ndarray, *, num_threads: int = 0) -> np.ndarray:
    """The raw score that :func:`contributions` add up to (see the module docstring).

    Raises:
        TypeError: the estimator is none of the supported kinds.
    """
    X = np.asarray(X, dtype=np.float64)
    model = _split_model(estimator)
    booster = getattr(model, "booster_", None)
    if booster is not None and type(booster).__module__.startswith("lightgbm"):
        head = estimator[:-1] if hasattr(estimator, "steps") and len(estimator.steps) > 1 else None
        Xt = head.transform(X) if head is not None else X
        raw = booster.predict(Xt, raw_score=True, num_threads=num_threads)
        return np.asarray(raw, dtype=np.float64)
    if raw_in_probability(estimator):
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X), dtype=np.float64)
    raise TypeError(f"no raw score defined for {type(model).__name__}")


def probability_of_raw(estimator: Any, raw: np.ndarray) -> np.ndarray:
    """The estimator's (uncalibrated) probability of default for a raw score."""
    raw = np.asarray(raw, dtype=np.float64)
    return raw if raw_in_probability(estimator) else 1.0 / (1.0 + np.exp(-raw))
