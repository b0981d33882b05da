"""Finish merged window counts (``monitoring.partials``) into the usual summaries.

Each ``finish_*`` applies the decision rules of its in-memory counterpart (``compute_drift``,
``compute_quality``, ``compute_fairness``) to counts instead of rows; the tests check that both
paths give the same results on the same data.
"""

from __future__ import annotations

import numpy as np

from loan_default.reference import (
    MONITORED_FIELDS,
    PROBABILITY,
    CategoricalProfile,
    ReferenceProfile,
    is_categorical,
)
from monitoring.drift import DriftConfig, DriftSummary, FeatureDrift, psi, psi_band
from monitoring.fairness import AttributeFairness, FairnessConfig, FairnessSummary, GroupFairness
from monitoring.partials import (
    ADVERSE,
    DEFAULTS,
    FALSE_POS,
    SIZE,
    TRUE_POS,
    WindowPartial,
    drift_fields,
    ks_from_cells,
)
from monitoring.quality import QualityConfig, QualitySummary, judge_quality


def _chi_square(
    expected: np.ndarray, counts: np.ndarray, reference_rows: int
) -> tuple[float, float]:
    from scipy import stats as sps

    table = np.vstack([expected * reference_rows, counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = sps.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def finish_drift(
    partial: WindowPartial, reference: ReferenceProfile, config: DriftConfig | None = None
) -> DriftSummary:
    """:func:`monitoring.drift.compute_drift` of the merged window."""
    config = config or DriftConfig()
    specs = drift_fields(reference, config)
    rows = partial.rows
    enough = rows >= config.min_rows
    alpha_per_test = config.alpha / max(len(specs), 1)
    eps = config.psi_epsilon
    results: list[FeatureDrift] = []
    for spec in specs:
        profile = reference.stats.fields[spec.name]
        counts = partial.bins[spec.name]
        shares = counts / max(rows, 1)
        expected = np.asarray(profile.proportions)
        if isinstance(profile, CategoricalProfile):
            stat, p = _chi_square(expected, counts, reference.stats.rows)
            effect = 0.5 * float(np.abs(expected - shares).sum())
        else:
            stat, p = ks_from_cells(reference.sorted_values(spec.name), partial.cells[spec.name])
            effect = stat
        value = psi(expected, shares, eps)
        significant = p < alpha_per_test and effect >= config.min_effect
        results.append(
            FeatureDrift(
                name=spec.name,
                method="chi_square" if is_categorical(spec) else "ks",
                statistic=stat, p_value=p, effect=effect, psi=value,
                band=psi_band(value, config),
                drifted=enough and (significant or value >= config.psi_act),
                missing_rate_reference=profile.missing_rate,
                missing_rate_current=float(shares[-1]),
            )
        )  # fmt: skip
    score_shares = partial.bins[PROBABILITY] / max(rows, 1)
    score_psi = psi(np.asarray(reference.stats.score.proportions), score_shares, eps)
    score_ks, score_p = ks_from_cells(
        reference.sorted_values(PROBABILITY), partial.cells[PROBABILITY]
    )
    drifted = [r.name for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    psis = [r.psi for r in results] or [0.0]
    alarm = len(drifted) >= config.min_drifted_features or score_psi >= config.psi_act
    return DriftSummary(
        rows=rows, enough_data=enough, features=results, drifted_features=drifted,
        share_drifted=share, drift_score=share, mean_psi=float(np.mean(psis)),
        max_psi=float(np.max(psis)), score_psi=score_psi,
        score_band=psi_band(score_psi, config), score_ks=score_ks, score_p_value=score_p,
        drift_detected=enough and alarm, alpha_per_test=alpha_per_test,
    )  # fmt: skip


def finish_quality(
    partial: WindowPartial,
    config: QualityConfig | None = None,
    *,
    reference: ReferenceProfile | None = None,
) -> QualitySummary:
    """:func:`monitoring.quality.compute_quality` of the merged window."""
    rows = partial.rows
    rates = {
        spec.name: (
            float(partial.quality[spec.name][0] / rows) if rows else 0.0,
            float(partial.quality[spec.name][1] / rows) if rows else 0.0,
        )
        for spec in MONITORED_FIELDS
    }
    return judge_quality(rates, rows, config or QualityConfig(), reference=reference)


def _gap(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def _attribute(
    name: str, table: dict[str, np.ndarray], labelled: bool, config: FairnessConfig
) -> AttributeFairness:
    if not table:
        return AttributeFairness(attribute=name, reference_group=None, groups=[], min_air=None,
                                 flagged_groups=[], flagged=False)  # fmt: skip
    rate = {g: float(c[ADVERSE] / c[SIZE]) for g, c in table.items()}
    eligible = [g for g in sorted(table) if table[g][SIZE] >= config.min_group_size]
    reference = min(eligible, key=lambda g: rate[g]) if eligible else None
    ref_rate = rate[reference] if reference is not None else None
    groups: list[GroupFairness] = []
    for group in sorted(table):
        counts = table[group]
        size, adverse_rate = int(counts[SIZE]), rate[group]
        air = ratio = None
        if ref_rate is not None:
            air = (1 - adverse_rate) / (1 - ref_rate) if ref_rate < 1 else None
            ratio = adverse_rate / ref_rate if ref_rate > 0 else None
        small = size < config.min_group_size
        tpr = fpr = None
        if labelled:
            defaults = int(counts[DEFAULTS])
            tpr = float(counts[TRUE_POS] / defaults) if defaults > 0 else None
            fpr = float(counts[FALSE_POS] / (size - defaults)) if defaults < size else None
        flagged = not small and air is not None and air < config.air_threshold
        groups.append(GroupFairness(group=group, size=size, adverse_rate=adverse_rate, air=air,
                                    adverse_ratio=ratio, small=small, flagged=flagged,
                                    tpr=tpr, fpr=fpr))  # fmt: skip
    big = [g for g in groups if not g.small]
    tpr_gap, fpr_gap = _gap([g.tpr for g in big]), _gap([g.fpr for g in big])
    airs = [g.air for g in big if g.air is not None]
    flagged_groups = [g.group for g in groups if g.flagged]
    gap_flag = any(gap is not None and gap > config.max_rate_gap for gap in (tpr_gap, fpr_gap))
    return AttributeFairness(
        attribute=name, reference_group=reference, groups=groups,
        min_air=min(airs) if airs else None, flagged_groups=flagged_groups,
        tpr_gap=tpr_gap, fpr_gap=fpr_gap, flagged=bool(flagged_groups) or gap_flag,
    )  # fmt: skip


def finish_fairness(
    partial: WindowPartial, config: FairnessConfig | None = None
) -> FairnessSummary:
    """:func:`monitoring.fairness.compute_fairness` of the merged window."""
    config = config or FairnessConfig()
    attributes = [
        _attribute(name, partial.groups.get(name, {}), partial.labelled, config)
        for name in config.attributes
    ]
    return FairnessSummary(
        rows=partial.rows,
        labelled=partial.labelled,
        adverse_decisions=list(config.adverse_decisions),
        attributes=attributes,
        flagged=any(a.flagged for a in attributes),
    )
