"""Data drift and score drift of a traffic window against the training reference.

Each monitored field gets a two-sample test and an effect size:

* numbers and integers: Kolmogorov-Smirnov against the reference sample (statistic D, the
  largest gap between the two empirical CDFs; missing values left out);
* categories and booleans: chi-square on the reference/current count table (categories,
  unseen categories and missing as columns); effect = total variation distance (TVD);

and the credit industry's population stability index on the bins frozen at training
(``loan_default.reference``): ``PSI = sum((q - p) * ln(q / p))`` over the bins, the missing bin
included, where ``p``/``q`` are the reference/current shares with empty bins raised to
``psi_epsilon`` (1e-4) so the logarithm stays finite. Bands: stable < 0.1 <= watch < 0.25 <= act.

A large reference and a window of thousands of rows make p-values flag differences nobody cares
about, and testing ~40 fields at 5% raises about two false alarms a window. So a field is
**drifted** when ``PSI >= psi_act``, or when its p-value is below ``alpha / number of fields
tested`` (Bonferroni) **and** its effect (KS D or TVD) is at least ``min_effect``. The window
**drift score** is the share of tested fields that drifted; the window alarm (``drift_detected``)
is raised when at least ``min_drifted_features`` fields drifted or the score PSI reaches
``psi_act``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as sps

from loan_default.errors import InputError
from loan_default.reference import (
    MONITORED_FIELDS,
    PROBABILITY,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    bin_counts,
    category_counts,
    category_labels,
    is_categorical,
)

Band = Literal["stable", "watch", "act"]


class DriftConfig(BaseModel):
    """How drift is decided (``configs/monitoring.yaml`` -> ``drift``)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise significance level.")
    min_effect: float = Field(
        0.1, ge=0, le=1, description="Smallest KS D (numeric) or TVD (categorical) that counts."
    )
    psi_watch: float = Field(0.1, gt=0, description="PSI from which a field is 'watch'.")
    psi_act: float = Field(0.25, gt=0, description="PSI from which a field is 'act' and drifted.")
    psi_epsilon: float = Field(1e-4, gt=0, lt=0.01, description="Share given to empty bins.")
    min_drifted_features: int = Field(1, ge=1, description="Drifted fields that raise the alarm.")
    min_rows: int = Field(100, ge=1, description="Fewer current rows: no test is run.")
    features: list[str] | None = Field(None, description="Fields to test (default: all).")


class FeatureDrift(BaseModel):
    """Drift of one field."""

    name: str
    method: Literal["ks", "chi_square"]
    statistic: float = Field(description="KS D, or the chi-square statistic.")
    p_value: float
    effect: float = Field(description="KS D (numeric) or total variation distance (categorical).")
    psi: float
    band: Band
    drifted: bool
    missing_rate_reference: float
    missing_rate_current: float


class DriftSummary(BaseModel):
    """Drift of one window: per field, overall and of the model's score."""

    rows: int
    enough_data: bool = Field(description="False when rows < min_rows: nothing is flagged.")
    features: list[FeatureDrift]
    drifted_features: list[str]
    share_drifted: float = Field(description="Drifted fields / fields tested.")
    drift_score: float = Field(description="The window's drift score: share_drifted.")
    mean_psi: float
    max_psi: float
    score_psi: float = Field(description="PSI of the predicted probabilities.")
    score_band: Band
    score_ks: float = Field(description="KS D of the predicted probabilities.")
    score_p_value: float
    drift_detected: bool
    alpha_per_test: float = Field(description="Bonferroni-corrected significance per field.")


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index of two vectors of shares (each summing to one)."""
    p = np.maximum(np.asarray(expected, dtype="float64"), epsilon)
    q = np.maximum(np.asarray(actual, dtype="float64"), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_band(value: float, config: DriftConfig) -> Band:
    """stable < psi_watch <= watch < psi_act <= act."""
    if value >= config.psi_act:
        return "act"
    return "watch" if value >= config.psi_watch else "stable"


def ks_two_sample(reference_sorted: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """KS statistic D and its asymptotic p-value (as scipy's ``ks_2samp(method='asymp')``).

    The sup of ``|F_ref - F_cur|`` is reached at a current value (from the right or from the
    left), so it is found in O(m log n) with the reference sorted once.
    """
    cur = np.sort(current)
    n, m = len(reference_sorted), len(cur)
    if n == 0 or m == 0:
        return 0.0, 1.0
    ref_right = np.searchsorted(reference_sorted, cur, side="right") / n
    ref_left = np.searchsorted(reference_sorted, cur, side="left") / n
    cur_right = np.searchsorted(cur, cur, side="right") / m
    cur_left = np.searchsorted(cur, cur, side="left") / m
    d = float(max(np.abs(ref_right - cur_right).max(), np.abs(ref_left - cur_left).max()))
    en = n * m / (n + m)
    return d, float(np.clip(sps.kstwo.sf(d, round(en)), 0.0, 1.0))


def _numeric(
    reference: ReferenceProfile, name: str, profile: NumericProfile, values: np.ndarray,
    epsilon: float,
) -> tuple[float, float, float, float]:  # fmt: skip
    counts = bin_counts(values, np.asarray(profile.edges))
    shares = counts / max(len(values), 1)
    d, p = ks_two_sample(reference.sorted_values(name), values[~np.isnan(values)])
    return d, p, psi(np.asarray(profile.proportions), shares, epsilon), float(shares[-1])


def _categorical(
    reference: ReferenceProfile, profile: CategoricalProfile, values: pd.Series, epsilon: float
) -> tuple[float, float, float, float, float]:
    counts = category_counts(values, profile.categories)
    shares = counts / max(len(values), 1)
    expected = np.asarray(profile.proportions)
    table = np.vstack([expected * reference.stats.rows, counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        chi2, p = 0.0, 1.0
    else:
        result = sps.chi2_contingency(table, correction=False)
        chi2, p = float(result.statistic), float(result.pvalue)
    tvd = 0.5 * float(np.abs(expected - shares).sum())
    return chi2, p, tvd, psi(expected, shares, epsilon), float(shares[-1])


def _column(frame: pd.DataFrame, name: str, *, numeric: bool) -> pd.Series:
    """A canonical column of the window; an absent column is all missing."""
    if name not in frame.columns:
        return pd.Series(np.nan if numeric else None, index=frame.index, dtype=object)
    column = frame[name]
    return pd.to_numeric(column, errors="coerce") if numeric else column.astype(object)


def compute_drift(
    reference: ReferenceProfile,
    current_frame: pd.DataFrame,
    probabilities: np.ndarray,
    config: DriftConfig | None = None,
) -> DriftSummary:
    """Compare one window of traffic (and its scores) with the reference.

    Args:
        reference: the model's profile (``ReferenceProfile.load`` of its folder).
        current_frame: canonical application rows of the window (absent columns are missing).
        probabilities: the predicted probability of each row of ``current_frame``.
        config: decision thresholds; defaults as documented in :class:`DriftConfig`.

    Raises:
        InputError: the lengths differ or ``config.features`` names an unmonitored field.
    """
    config = config or DriftConfig()
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    if len(probabilities) != len(current_frame):
        raise InputError(
            f"probabilities has {len(probabilities)} values but the window has "
            f"{len(current_frame)} rows"
        )
    specs = [f for f in MONITORED_FIELDS if f.name in reference.stats.fields]
    if config.features is not None:
        unknown = sorted(set(config.features) - {f.name for f in specs})
        if unknown:
            raise InputError(f"drift.features names fields that are not monitored: {unknown}")
        specs = [f for f in specs if f.name in config.features]
    rows = len(current_frame)
    enough = rows >= config.min_rows
    alpha_per_test = config.alpha / max(len(specs), 1)
    eps = config.psi_epsilon
    results: list[FeatureDrift] = []
    for spec in specs:
        profile = reference.stats.fields[spec.name]
        if isinstance(profile, CategoricalProfile):
            labels = category_labels(spec, _column(current_frame, spec.name, numeric=False))
            stat, p, effect, value, missing = _categorical(reference, profile, labels, eps)
        else:
            values = _column(current_frame, spec.name, numeric=True).to_numpy(dtype="float64")
            stat, p, value, missing = _numeric(reference, spec.name, profile, values, eps)
            effect = stat
        significant = p < alpha_per_test and effect >= config.min_effect
        results.append(
            FeatureDrift(
                name=spec.name,
                method="chi_square" if is_categorical(spec) else "ks",
                statistic=stat,
                p_value=p,
                effect=effect,
                psi=value,
                band=psi_band(value, config),
                drifted=enough and (significant or value >= config.psi_act),
                missing_rate_reference=profile.missing_rate,
                missing_rate_current=missing,
            )
        )
    score_shares = bin_counts(probabilities, np.asarray(reference.stats.score.edges)) / max(rows, 1)
    score_psi = psi(np.asarray(reference.stats.score.proportions), score_shares, eps)
    scored = probabilities[~np.isnan(probabilities)]
    score_ks, score_p = ks_two_sample(reference.sorted_values(PROBABILITY), scored)
    drifted = [r.name for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    psis = [r.psi for r in results] or [0.0]
    alarm = len(drifted) >= config.min_drifted_features or score_psi >= config.psi_act
    return DriftSummary(
        rows=rows,
        enough_data=enough,
        features=results,
        drifted_features=drifted,
        share_drifted=share,
        drift_score=share,
        mean_psi=float(np.mean(psis)),
        max_psi=float(np.max(psis)),
        score_psi=score_psi,
        score_band=psi_band(score_psi, config),
        score_ks=score_ks,
        score_p_value=score_p,
        drift_detected=enough and alarm,
        alpha_per_test=alpha_per_test,
    )
