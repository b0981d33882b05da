"""Window statistics of any size: computed per partition, merged, then finished.

``partial_window`` -> ``merge`` -> ``finish`` gives the same :class:`DriftSummary`,
:class:`QualitySummary` and :class:`FairnessSummary` as the in-memory functions
(``compute_drift``, ``compute_quality``, ``compute_fairness``) on the whole window, because
every statistic is a function of counts that add up across partitions:

* **PSI**: counts in the quantile bins frozen at training (and the missing bin);
* **chi-square / TVD**: counts of each reference category, of unseen ones and of missing;
* **KS (exact)**: the two-sample statistic is a supremum of a step function that only moves
  at sample points, so it is fixed by the counts of current values *at* each distinct
  reference value and *strictly between* two consecutive ones (``2 u + 1`` cells for ``u``
  distinct values in the reference sample). Within a cell the reference CDF is constant and
  the current CDF monotone, so the largest gap sits at a cell's end: D is exact, not binned;
* **quality**: missing and invalid counts per field;
* **fairness**: per attribute and group, the size, adverse decisions, and with outcomes the
  defaults and the adverse decisions among defaulters and among repayers.

A partial is a few MB (the KS cells dominate: 8 bytes per distinct reference value and
field), whatever the partition's size, so partials travel between Dask workers cheaply.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from loan_default.decision import DECISIONS
from loan_default.errors import InputError
from loan_default.reference import (
    MONITORED_FIELDS,
    PROBABILITY,
    CategoricalProfile,
    ReferenceProfile,
    bin_counts,
    category_counts,
    category_labels,
)
from loan_default.schema import FieldSpec
from monitoring.drift import DriftConfig
from monitoring.fairness import FairnessConfig, _groups
from monitoring.quality import invalid_mask

SIZE, ADVERSE, DEFAULTS, TRUE_POS, FALSE_POS = range(5)


@dataclass
class WindowPartial:
    """Additive counts of one partition (or of several, merged)."""

    rows: int = 0
    labelled: bool = True
    bins: dict[str, np.ndarray] = field(default_factory=dict)
    """Field (or :data:`PROBABILITY`) -> PSI bin / category counts, missing last."""
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    """Numeric field (or the score) -> KS cell counts on the reference's distinct values."""
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    """Field -> [missing, invalid] counts."""
    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """Attribute -> group -> [size, adverse, defaults, adverse defaulters, adverse repayers]."""


def drift_fields(reference: ReferenceProfile, config: DriftConfig) -> list[FieldSpec]:
    """The fields ``compute_drift`` tests, in its order."""
    specs = [f for f in MONITORED_FIELDS if f.name in reference.stats.fields]
    if config.features is not None:
        unknown = sorted(set(config.features) - {f.name for f in specs})
        if unknown:
            raise InputError(f"drift.features names fields that are not monitored: {unknown}")
        specs = [f for f in specs if f.name in config.features]
    return specs


def ks_cells(reference_sorted: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts of ``values`` (no NaN) in the cells below, at and between distinct references."""
    distinct = np.unique(reference_sorted)
    position = np.searchsorted(distinct, values, side="left")
    at = np.zeros(len(values), dtype=bool)
    inside = position < len(distinct)
    at[inside] = distinct[position[inside]] == values[inside]
    return np.bincount(2 * position + at, minlength=2 * len(distinct) + 1)


def ks_from_cells(reference_sorted: np.ndarray, cells: np.ndarray) -> tuple[float, float]:
    """KS D and its asymptotic p-value, as ``drift.ks_two_sample`` on the full samples."""
    n, m = len(reference_sorted), int(cells.sum())
    if n == 0 or m == 0:
        return 0.0, 1.0
    distinct = np.unique(reference_sorted)
    ref_at = np.searchsorted(reference_sorted, distinct, side="right") / n
    # Cell 2k (between distinct[k-1] and distinct[k]): F_ref(distinct[k-1]); cell 2k+1: at it.
    ref = np.empty(len(cells))
    ref[0] = 0.0
    ref[1::2] = ref_at
    ref[2::2] = ref_at
    d = float(np.abs(ref - np.cumsum(cells) / m).max())
    en = n * m / (n + m)
    return d, float(np.clip(sps.kstwo.sf(d, round(en)), 0.0, 1.0))


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def _texts(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    return frame[name].astype(object)


def partial_window(
    frame: pd.DataFrame,
    probabilities: np.ndarray,
    decisions: np.ndarray,
    y: np.ndarray | None,
    *,
    reference: ReferenceProfile,
    drift: DriftConfig,
    fairness: FairnessConfig,
) -> WindowPartial:
    """The counts of one partition: its canonical rows (as logged), scores and decisions."""
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    decided = np.asarray(decisions, dtype=object)
    if not len(probabilities) == len(decided) == len(frame):
        raise InputError("probabilities, decisions and rows must have the same length")
    unknown = sorted(set(decided.tolist()) - set(DECISIONS))
    if unknown:
        raise InputError(f"decisions must be one of {list(DECISIONS)}, not {unknown}")
    out = WindowPartial(rows=len(frame), labelled=y is not None)
    for spec in drift_fields(reference, drift):
        profile = reference.stats.fields[spec.name]
        if isinstance(profile, CategoricalProfile):
            labels = category_labels(spec, _texts(frame, spec.name))
            out.bins[spec.name] = category_counts(labels, profile.categories)
        else:
            values = _numbers(frame, spec.name)
            out.bins[spec.name] = bin_counts(values, np.asarray(profile.edges))
            present = values[~np.isnan(values)]
            out.cells[spec.name] = ks_cells(reference.sorted_values(spec.name), present)
    out.bins[PROBABILITY] = bin_counts(probabilities, np.asarray(reference.stats.score.edges))
    scored = probabilities[~np.isnan(probabilities)]
    out.cells[PROBABILITY] = ks_cells(reference.sorted_values(PROBABILITY), scored)
    for spec in MONITORED_FIELDS:
        if spec.name in frame.columns:
            column = frame[spec.name]
            counts = [int(column.isna().sum()), int(invalid_mask(spec, column).sum())]
        else:
            counts = [len(frame), 0]
        out.quality[spec.name] = np.array(counts, dtype=np.int64)
    adverse = np.isin(decided, fairness.adverse_decisions)
    outcomes = None if y is None else np.asarray(y, dtype="float64").ravel()
    if outcomes is not None and (
        len(outcomes) != len(frame) or not np.isin(outcomes, (0, 1)).all()
    ):
        raise InputError("y must hold a 0/1 outcome for every row of the frame")
    for attribute in fairness.attributes:
        groups = _groups(frame, attribute, fairness)
        table = pd.DataFrame({"g": groups.to_numpy(), "adverse": adverse})
        table["defaults"] = 0.0 if outcomes is None else outcomes
        table["tp"] = table["adverse"] & (table["defaults"] == 1)
        table["fp"] = table["adverse"] & (table["defaults"] == 0)
        sums = table.groupby("g", sort=True).agg(
            size=("adverse", "size"), adverse=("adverse", "sum"), defaults=("defaults", "sum"),
            tp=("tp", "sum"), fp=("fp", "sum"),
        )  # fmt: skip
        out.groups[str(groups.name)] = {
            str(g): row.to_numpy(dtype=np.int64) for g, row in sums.iterrows()
        }
    return out


def merge(a: WindowPartial, b: WindowPartial) -> WindowPartial:
    """The counts of two partitions together (neither input is changed)."""

    def add(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            k: x[k] + y[k] if k in x and k in y else (x[k] if k in x else y[k]) for k in {*x, *y}
        }

    groups: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for name in {*a.groups, *b.groups}:
        groups[name] = add(a.groups.get(name, {}), b.groups.get(name, {}))
    return WindowPartial(
        rows=a.rows + b.rows,
        labelled=a.labelled and b.labelled,
        bins=add(a.bins, b.bins),
        cells=add(a.cells, b.cells),
        quality=add(a.quality, b.quality),
        groups=dict(groups),
    )
