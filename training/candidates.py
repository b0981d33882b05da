"""Candidate pipelines: FeatureEngineer first, then preprocessing, resampling and the model.

Every candidate is an imbalanced-learn :class:`~imblearn.pipeline.Pipeline`, so SMOTE (when
chosen) runs inside each training fold only: the sampler is skipped at prediction time, and
cross-validation never scores synthetic rows. SMOTE needs complete inputs, so a median imputer
comes before it; trees without SMOTE and LightGBM take NaN natively.

After fitting, :func:`scoring_estimator` drops the feature step and the samplers: what remains
(preprocessing + model) is the estimator a :class:`~loan_default.model.ScoringModel` wraps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from loan_default.contributions import linear_terms_map
from loan_default.features import FeatureEngineer
from loan_default.scorecard import WoEScorecard
from training.config import Algorithm, CandidateConfig, Imbalance

FEATURES_STEP = "features"
MODEL_STEP = "model"

# Defaults per algorithm; a candidate's ``params`` override them.
DEFAULT_PARAMS: dict[Algorithm, dict[str, Any]] = {
    Algorithm.SCORECARD: {
        "min_iv": 0.02,
        "max_n_bins": 6,
        "min_bin_size": 0.05,
        "C": 0.03,
        "base_points": 600.0,
        "base_odds": 19.0,
        "pdo": 20.0,
    },
    Algorithm.LOGISTIC_REGRESSION: {"C": 0.1, "max_iter": 1000},
    Algorithm.DECISION_TREE: {"max_depth": 6, "min_samples_leaf": 100},
    Algorithm.RANDOM_FOREST: {
        "n_estimators": 100,
        "max_depth": 12,
        "min_samples_leaf": 20,
        "max_features": "sqrt",
        "max_samples": 0.3,
    },
    Algorithm.LIGHTGBM: {
        "n_estimators": 400,
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_child_samples": 100,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.7,
        "reg_lambda": 5.0,
        "cat_smooth": 50.0,
        "cat_l2": 10.0,
        "min_data_per_group": 200,
        "verbose": -1,
    },
    Algorithm.BLEND: {},
}


def feature_layout() -> tuple[list[int], int]:
    """Indices of the category-code columns and the width of the feature matrix.

    Taken from the :class:`FeatureEngineer` itself (fitted on nothing: the layout depends on
    the schema only), so the one-hot step can never disagree with the features.
    """
    fe = FeatureEngineer().fit(pd.DataFrame())
    return list(fe.categorical_indices_), int(fe.n_features_out_)


def risk_directions(extra: Mapping[str, int] | None = None) -> dict[str, int]:
    """Known risk direction per feature: FeatureEngineer's, then ``extra`` (the config's)."""
    fe = FeatureEngineer().fit(pd.DataFrame())
    names = [str(n) for n in fe.get_feature_names_out()]
    directions = dict(zip(names, fe.monotone_constraints(), strict=True))
    directions.update(extra or {})
    return directions


def monotone_constraints(extra: Mapping[str, int] | None = None) -> list[int]:
    """LightGBM monotone constraints: FeatureEngineer's known directions, then ``extra``."""
    return list(risk_directions(extra).values())


def _linear_preprocessing() -> ColumnTransformer:
    """One-hot of the category codes (missing is its own level), impute + scale the rest."""
    categorical, width = feature_layout()
    numeric = [i for i in range(width) if i not in set(categorical)]
    return ColumnTransformer(
        [
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value=-1.0)),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=20)),
                    ]
                ),
                categorical,
            ),
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            ),
        ],
        sparse_threshold=0.0,
    )


def _estimator(cand: CandidateConfig, params: dict[str, Any], *, seed: int) -> Any:
    weight = "balanced" if cand.imbalance is Imbalance.CLASS_WEIGHT else None
    merged = {**DEFAULT_PARAMS[cand.algorithm], **params}
    if cand.algorithm is Algorithm.SCORECARD:
        directions = risk_directions(cand.monotone)
        return WoEScorecard(
            list(directions),
            feature_layout()[0],
            {k: v for k, v in directions.items() if v},
            dict(cand.special_codes),
            **merged,
        )
    if cand.algorithm is Algorithm.BLEND:
        raise ValueError(f"{cand.name}: a blend is built from its parts, not as a pipeline")
    if cand.algorithm is Algorithm.LOGISTIC_REGRESSION:
        return LogisticRegression(class_weight=weight, random_state=seed, **merged)
    if cand.algorithm is Algorithm.DECISION_TREE:
        return DecisionTreeClassifier(class_weight=weight, random_state=seed, **merged)
    if cand.algorithm is Algorithm.RANDOM_FOREST:
        return RandomForestClassifier(class_weight=weight, random_state=seed, n_jobs=1, **merged)
    return LGBMClassifier(
        class_weight=weight,
        monotone_constraints=monotone_constraints(cand.monotone),
        random_state=seed,
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        **merged,
    )


def build_pipeline(
    cand: CandidateConfig,
    params: dict[str, Any] | None = None,
    *,
    seed: int,
) -> ImbPipeline:
    """The unfitted pipeline of a candidate (``params`` override the configured ones).

    Estimators are single-threaded: parallelism comes from fitting folds side by side
    (:func:`training.evaluation.oof_predictions`).
    """
    steps: list[tuple[str, Any]] = [(FEATURES_STEP, FeatureEngineer())]
    if cand.algorithm is Algorithm.LOGISTIC_REGRESSION:
        steps.append(("preprocess", _linear_preprocessing()))
    elif cand.imbalance is Imbalance.SMOTE:
        steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    if cand.imbalance is Imbalance.SMOTE:
        smote = SMOTE(
            sampling_strategy=cand.smote_ratio,
            k_neighbors=cand.smote_k_neighbors,
            random_state=seed,
        )
        steps.append(("smote", smote))
    merged = {**cand.params, **(params or {})}
    steps.append((MODEL_STEP, _estimator(cand, merged, seed=seed)))
    return ImbPipeline(steps)


def fit_params(cand: CandidateConfig) -> dict[str, Any]:
    """Keyword arguments for ``Pipeline.fit``: LightGBM is told which columns are categories."""
    if cand.algorithm is Algorithm.LIGHTGBM and cand.imbalance is not Imbalance.SMOTE:
        categorical, _ = feature_layout()
        return {f"{MODEL_STEP}__categorical_feature": categorical}
    # After SMOTE the category codes are interpolated (no longer codes): split them as numbers.
    return {}


def scoring_estimator(pipeline: ImbPipeline) -> tuple[FeatureEngineer, Any]:
    """Split a fitted pipeline into its FeatureEngineer and the estimator over its output.

    Samplers are dropped (they act only in ``fit``); with no preprocessing left the estimator
    is the model itself, so LightGBM keeps its fast booster path in ``ScoringModel``.
    """
    features = pipeline.named_steps[FEATURES_STEP]
    rest = [(name, step) for name, step in pipeline.steps[1:] if not hasattr(step, "fit_resample")]
    if len(rest) == 1:
        return features, rest[0][1]
    return features, Pipeline(rest)


def feature_importance(pipeline: ImbPipeline) -> pd.Series:
    """Importance per feature column, normalised to sum to 1 (gain, impurity or |coef|)."""
    features, estimator = scoring_estimator(pipeline)
    names = [str(n) for n in features.get_feature_names_out()]
    model = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if isinstance(model, LGBMClassifier):
        values = model.booster_.feature_importance(importance_type="gain").astype(float)
    elif hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    else:
        values = np.zeros(len(names))
        mapping = linear_terms_map(estimator[:-1], len(names))
        np.add.at(values, mapping, np.abs(np.ravel(model.coef_)))
    total = values.sum()
    return pd.Series(values / total if total > 0 else values, index=names).sort_values(
        ascending=False
    )
