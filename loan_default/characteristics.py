"""The characteristics of a scorecard: one feature column's bins and their weights of evidence.

:class:`Characteristic` is the fitted, plain-numpy state of one column (bins, WoE, counts, IV)
that :class:`loan_default.scorecard.WoEScorecard` scores with; the functions are the arithmetic
of fitting one: the weight of evidence of each bin, the information value of a binning, and a
monotone risk order over ordered bins. Kept apart from the estimator so that each reads alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MISSING = "Missing"
SPECIAL = "Special"


@dataclass
class Characteristic:
    """The fitted bins of one feature column and their weights of evidence.

    Bins are numbered ``0 .. n_bins-1`` (intervals or category groups), then ``n_bins`` for
    the special values and ``n_bins + 1`` for missing values (and unseen categories).
    """

    column: int
    name: str
    categorical: bool
    splits: np.ndarray
    """Numeric: ascending cut points (bin i holds ``splits[i-1] <= x < splits[i]``)."""
    groups: list[np.ndarray]
    """Categorical: the category codes of each bin."""
    special: np.ndarray
    woe: np.ndarray
    """One WoE per bin, special and missing last."""
    counts: np.ndarray
    events: np.ndarray
    iv: float
    _lookup: np.ndarray | None = None

    @property
    def n_bins(self) -> int:
        return len(self.woe) - 2

    def bins(self, x: np.ndarray) -> np.ndarray:
        """The bin of each value of ``x`` (float64, NaN missing)."""
        missing = np.isnan(x)
        if self.categorical:
            lookup = self._code_lookup()
            codes = np.where(missing, -1, x).astype(np.int64)
            inside = (codes >= 0) & (codes < len(lookup))
            out = np.full(x.shape, self.n_bins + 1, dtype=np.intp)
            out[inside] = lookup[codes[inside]]
        else:
            out = np.searchsorted(self.splits, x, side="right").astype(np.intp)
            out[missing] = self.n_bins + 1
        if len(self.special):
            out[np.isin(x, self.special)] = self.n_bins
        return out

    def _code_lookup(self) -> np.ndarray:
        if self._lookup is None:
            top = max((int(g.max()) for g in self.groups if len(g)), default=-1)
            lookup = np.full(top + 1, self.n_bins + 1, dtype=np.intp)
            for i, group in enumerate(self.groups):
                lookup[group.astype(np.int64)] = i
            self._lookup = lookup
        return self._lookup

    def labels(self, category_names: Sequence[str] | None = None) -> list[str]:
        """Readable bin labels: ``[a, b)`` intervals or category lists, then special, missing."""
        out: list[str] = []
        if self.categorical:
            for group in self.groups:
                names = [
                    category_names[int(c)]
                    if category_names is not None and int(c) < len(category_names)
                    else ("other" if category_names is not None else str(int(c)))
                    for c in group
                ]
                out.append(", ".join(names))
        else:
            edges = [-math.inf, *self.splits.tolist(), math.inf]
            out = [f"[{edges[i]:.6g}, {edges[i + 1]:.6g})" for i in range(len(edges) - 1)]
        return [*out, SPECIAL, MISSING]


def distinct_values(x: np.ndarray, special: Sequence[float] | None) -> int:
    """How many distinct finite values ``x`` has outside ``special``."""
    values = x[np.isfinite(x)]
    if special:
        values = values[~np.isin(values, special)]
    return len(np.unique(values))


def weight_of_evidence(events: np.ndarray, counts: np.ndarray, rate: float) -> np.ndarray:
    """WoE per bin, each bin's rate shrunk towards ``rate`` by one pseudo-row."""
    shrunk = (events + rate) / (counts + 1.0)
    return np.log(shrunk / (1 - shrunk)) - math.log(rate / (1 - rate))


def information_value(events: np.ndarray, counts: np.ndarray) -> float:
    """Information value of a binning (empty bins contribute nothing)."""
    nonevents = counts - events
    seen = counts > 0
    e = (events[seen] + 0.5) / (events.sum() + 0.5)
    n = (nonevents[seen] + 0.5) / (nonevents.sum() + 0.5)
    return float(np.sum((e - n) * np.log(e / n)))


def monotone_woe(woe: np.ndarray, counts: np.ndarray, n_bins: int, direction: int) -> np.ndarray:
    """Force the ordered bins' WoE to follow ``direction`` (+1 rising risk, -1 falling)."""
    out = woe.copy()
    if direction == 0 or n_bins < 2:
        return out
    ordered = out[:n_bins]
    seen = counts[:n_bins] > 0
    # Empty ordered bins (rare: optbinning's minimum bin size) take the previous bin's value.
    for i in range(1, n_bins):
        if not seen[i]:
            ordered[i] = ordered[i - 1]
    acc = np.maximum.accumulate if direction > 0 else np.minimum.accumulate
    out[:n_bins] = acc(ordered)
    return out
