"""A weight-of-evidence scorecard: optimal bins, WoE, logistic regression, points.

:class:`WoEScorecard` is a scikit-learn classifier over the :class:`FeatureEngineer`'s matrix
(it sits where any other model sits in a candidate pipeline, so cross-validation refits the
binning inside every fold). Fitting:

1. each characteristic (a feature column) is binned by optbinning's ``BinningProcess``: a
   numeric column into intervals, a category column into groups of codes; the risk direction
   of a column (``monotone``: +1 risk never falls as the value rises, -1 never rises) becomes
   a monotonic event-rate trend; missing values and ``special_codes`` get bins of their own;
2. each bin gets its weight of evidence ``WoE = logit(bin default rate) - logit(overall rate)``
   (positive = riskier than average; the bin rate is shrunk towards the overall rate by one
   row, so a bin seen once or never is close to neutral); a monotone column's WoE is then made
   monotone over its ordered bins;
3. characteristics with an information value below ``min_iv`` are dropped; a logistic
   regression on the WoE columns follows, and a characteristic whose coefficient is not
   positive (collinearity reversing its sign) is dropped and the regression refitted, so
   every characteristic's points follow its bins' risk order;
4. points: ``score = offset - factor * logit(P(default))`` with ``factor = pdo / ln 2`` and
   ``offset = base_points - factor * ln(base_odds)`` (``base_odds`` are good:bad, so 600 points
   at 19:1 means P(default) 5% scores 600, and every ``pdo`` points double the odds). The
   intercept is shared equally among the characteristics, so the total score is the sum of
   the applicant's points per characteristic and reproduces the probability exactly.

The fitted state is plain numpy (no optbinning object is kept), so serving needs nothing but
numpy, and one application is scored in tens of microseconds. A category code the binning
never saw (e.g. a fold that never saw a category) is scored as missing.

Reason codes (the adverse-action method): the characteristics whose points fall furthest below
their best bin's. :meth:`WoEScorecard.contributions` expresses those losses in log-odds so the
explainer's generic rule (largest positive contributions first) gives exactly that order.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from loan_default.characteristics import (
    Characteristic,
    distinct_values,
    information_value,
    monotone_woe,
    weight_of_evidence,
)


class WoEScorecard(ClassifierMixin, BaseEstimator):
    """Optimal-binning WoE logistic regression scaled to points (see the module docstring).

    Args:
        feature_names: the names of the input columns (the FeatureEngineer's output).
        categorical: indices of the category-code columns.
        monotone: risk direction per feature name (+1, -1; absent or 0: free, optbinning
            picks the trend).
        special_codes: per feature name, values binned apart from the rest.
        min_iv: characteristics with a lower information value are not used.
        max_n_bins: bins per characteristic (special and missing not counted).
        min_bin_size: smallest share of rows in a bin.
        C: inverse L2 strength of the logistic regression.
        base_points: the score at ``base_odds``.
        base_odds: good:bad odds that score ``base_points`` (19 = P(default) 5%).
        pdo: points to double the odds.
    """

    def __init__(
        self,
        feature_names: Sequence[str] = (),
        categorical: Sequence[int] = (),
        monotone: Mapping[str, int] | None = None,
        special_codes: Mapping[str, Sequence[float]] | None = None,
        *,
        min_iv: float = 0.02,
        max_n_bins: int = 6,
        min_bin_size: float = 0.05,
        C: float = 1.0,
        base_points: float = 600.0,
        base_odds: float = 19.0,
        pdo: float = 20.0,
    ) -> None:
        self.feature_names = feature_names
        self.categorical = categorical
        self.monotone = monotone
        self.special_codes = special_codes
        self.min_iv = min_iv
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.C = C
        self.base_points = base_points
        self.base_odds = base_odds
        self.pdo = pdo

    # -- scaling -----------------------------------------------------------------------------
    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def probability_of_score(self, score: np.ndarray) -> np.ndarray:
        """P(default) of a total score: the inverse of the scaling formula."""
        return 1.0 / (1.0 + np.exp((np.asarray(score, float) - self.offset) / self.factor))

    # -- fitting -----------------------------------------------------------------------------
    def _names(self, width: int) -> list[str]:
        names = [str(n) for n in self.feature_names]
        if not names:
            return [f"f{i}" for i in range(width)]
        if len(names) != width:
            raise ValueError(f"feature_names has {len(names)} names for {width} columns")
        return names

    def fit(self, X: np.ndarray, y: np.ndarray) -> WoEScorecard:
        from optbinning import BinningProcess

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.array([0, 1])
        names = self._names(X.shape[1])
        categorical = {int(i) for i in self.categorical}
        monotone = dict(self.monotone or {})
        specials = {k: list(v) for k, v in (self.special_codes or {}).items() if k in names}
        fit_params = {
            name: {"monotonic_trend": "ascending" if d > 0 else "descending"}
            for name, d in monotone.items()
            if d != 0 and name in names and names.index(name) not in categorical
        }
        # A column with fewer than two distinct ordinary values (e.g. a category a fold never
        # saw vary) cannot be split; its evidence is left out rather than guessed.
        usable = [
            j for j in range(X.shape[1]) if distinct_values(X[:, j], specials.get(names[j])) > 1
        ]
        used = [names[j] for j in usable]
        with warnings.catch_warnings():
            # optbinning's prebinning divides by a zero-weight sum on tiny columns (harmless).
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="optbinning")
            process = BinningProcess(
                used,
                categorical_variables=[names[j] for j in usable if j in categorical],
                max_n_bins=self.max_n_bins,
                min_bin_size=self.min_bin_size,
                special_codes={k: v for k, v in specials.items() if k in used} or None,
                binning_fit_params={k: v for k, v in fit_params.items() if k in used},
            ).fit(X[:, usable], y)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        chars = [
            self._characteristic(
                j, names[j], process.get_binned_variable(names[j]), X[:, j], y, rate, monotone
            )
            for j in usable
        ]
        self._all = chars
        self.characteristics_ = [c for c in chars if c.iv >= self.min_iv]
        self._fit_regression(X, y)
        return self

    def _characteristic(
        self,
        j: int,
        name: str,
        optb: Any,
        x: np.ndarray,
        y: np.ndarray,
        rate: float,
        monotone: Mapping[str, int],
    ) -> Characteristic:
        categorical = optb.dtype == "categorical"
        splits = np.asarray([] if categorical else optb.splits, dtype=np.float64)
        groups = (
            [np.asarray(g, dtype=np.float64) for g in optb.splits] if categorical else []
        )  # fmt: skip
        special = np.asarray(
            (self.special_codes or {}).get(name, []), dtype=np.float64
        )  # fmt: skip
        n_bins = len(groups) if categorical else len(splits) + 1
        char = Characteristic(
            column=j, name=name, categorical=categorical, splits=splits, groups=groups,
            special=special, woe=np.zeros(n_bins + 2), counts=np.zeros(n_bins + 2),
            events=np.zeros(n_bins + 2), iv=0.0,
        )  # fmt: skip
        b = char.bins(x)
        char.counts = np.bincount(b, minlength=n_bins + 2).astype(float)
        char.events = np.bincount(b, weights=y, minlength=n_bins + 2)
        woe = weight_of_evidence(char.events, char.counts, rate)
        direction = 0 if categorical else int(monotone.get(name, 0))
        char.woe = monotone_woe(woe, char.counts, n_bins, direction)
        char.iv = information_value(char.events, char.counts)
        return char

    def _fit_regression(self, X: np.ndarray, y: np.ndarray) -> None:
        kept = list(self.characteristics_)
        while True:
            W = self._woe_matrix(X, kept)
            lr = LogisticRegression(C=self.C, max_iter=1000)
            if kept:
                lr.fit(W, y)
                coef = lr.coef_[0]
            else:
                coef = np.zeros(0)
            wrong = [c for c, b in zip(kept, coef, strict=True) if b <= 0]
            if not wrong:
                break
            worst = min(zip(kept, coef, strict=True), key=lambda cb: cb[1])[0]
            kept = [c for c in kept if c is not worst]
        self.characteristics_ = kept
        self.coef_ = np.asarray(coef, dtype=np.float64)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        self.intercept_ = float(lr.intercept_[0]) if kept else math.log(rate / (1 - rate))
        self._tables()

    def _tables(self) -> None:
        """Points of every bin, and each characteristic's best (most points) bin."""
        k = max(len(self.characteristics_), 1)
        share = (self.offset - self.factor * self.intercept_) / k
        pairs = zip(self.characteristics_, self.coef_, strict=True)
        self.points_ = [share - self.factor * b * c.woe for c, b in pairs]
        self.best_woe_ = np.array(
            [
                float(np.min(c.woe[c.counts > 0])) if np.any(c.counts > 0) else 0.0
                for c in self.characteristics_
            ]
        )

    # -- scoring -----------------------------------------------------------------------------
    def _bins(self, X: np.ndarray) -> list[np.ndarray]:
        return [c.bins(X[:, c.column]) for c in self.characteristics_]

    def _woe_matrix(self, X: np.ndarray, chars: Sequence[Characteristic]) -> np.ndarray:
        W = np.empty((X.shape[0], len(chars)))
        for i, c in enumerate(chars):
            W[:, i] = c.woe[c.bins(X[:, c.column])]
        return W

    def points(self, X: np.ndarray) -> np.ndarray:
        """Points per characteristic, ``(n, len(characteristics_))``; rows sum to the score."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((X.shape[0], len(self.characteristics_)))
        for i, (c, pts) in enumerate(zip(self.characteristics_, self.points_, strict=True)):
            out[:, i] = pts[c.bins(X[:, c.column])]
        return out

    def max_points(self) -> np.ndarray:
        """The points of each characteristic's best bin (the adverse-action reference)."""
        share = (self.offset - self.factor * self.intercept_) / max(len(self.characteristics_), 1)
        return share - self.factor * self.coef_ * self.best_woe_

    def score(self, X: np.ndarray, y: Any = None, sample_weight: Any = None) -> Any:
        """With ``y``: sklearn's accuracy; without: the total points of each row."""
        if y is not None:
            return super().score(X, y, sample_weight)
        return self.points(X).sum(axis=1) if self.characteristics_ else np.full(
            np.asarray(X).shape[0], self.offset - self.factor * self.intercept_
        )  # fmt: skip

    def _row_tables(self) -> list[tuple[int, list[float], dict[float, int] | None,
                                        frozenset[float], list[float]]]:  # fmt: skip
        """Per characteristic, plain-Python lookups for one row (column, splits, category
        -> bin, special values, coef * WoE per bin): built once, used by :meth:`_row_log_odds`."""
        tables = self.__dict__.get("_row")
        if tables is None:
            tables = []
            for c, b in zip(self.characteristics_, self.coef_, strict=True):
                groups = (
                    {float(code): i for i, g in enumerate(c.groups) for code in g}
                    if c.categorical else None
                )  # fmt: skip
                tables.append((c.column, c.splits.tolist(), groups,
                               frozenset(c.special.tolist()), (b * c.woe).tolist()))  # fmt: skip
            self.__dict__["_row"] = tables
        return tables

    def _row_log_odds(self, row: np.ndarray) -> float:
        """Log-odds of one row with Python scalars: no numpy call per characteristic."""
        z = self.intercept_
        values = row.tolist()
        for column, splits, groups, special, terms in self._row_tables():
            x = values[column]
            missing = len(terms) - 1
            if x != x:  # NaN
                z += terms[missing]
            elif x in special:
                z += terms[missing - 1]
            elif groups is not None:
                z += terms[groups.get(x, missing)]
            else:
                z += terms[bisect.bisect_right(splits, x)]
        return z

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.pop("_row", None)  # rebuilt on first use
        return state

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of default (one row: the plain-Python path, same answer)."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 1:
            return np.array([self._row_log_odds(X[0])])
        z = np.full(X.shape[0], self.intercept_)
        for c, b in zip(self.characteristics_, self.coef_, strict=True):
            z += b * c.woe[c.bins(X[:, c.column])]
        return z

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Log-odds lost per input column against the best bins, base value last.

        Column ``j`` holds ``coef * (WoE of the applicant's bin - WoE of the best bin)``
        (= points lost / factor, never negative); the base value is the log-odds of an
        applicant in every best bin, so a row sums to :meth:`decision_function`.
        """
        X = np.asarray(X, dtype=np.float64)
        out = np.zeros((X.shape[0], X.shape[1] + 1))
        base = self.intercept_
        for c, b, best in zip(self.characteristics_, self.coef_, self.best_woe_, strict=True):
            out[:, c.column] += b * (c.woe[c.bins(X[:, c.column])] - best)
            base += b * best
        out[:, -1] = base
        return out

    @property
    def information_values(self) -> dict[str, float]:
        """IV of every characteristic kept in the scorecard."""
        return {c.name: c.iv for c in self.characteristics_}
