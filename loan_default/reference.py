"""The drift reference: what the training data looked like, frozen at registration.

:func:`build_reference` summarises the training frame and the model's predicted probabilities
on it; training saves the result next to the model (``ReferenceProfile.save``) and monitoring
compares every traffic window with it (``monitoring.drift``). It holds:

* for every monitored input field (features *and* protected attributes, from
  ``loan_default.schema.INPUT_FIELDS``, without the identifier and the timestamp):

  - numbers and integers: decile bin edges frozen on the training data (de-duplicated, so a
    discrete field gets fewer bins), with open outer bins ``(-inf, e0]`` and ``(e_k, +inf)``
    and a separate missing bin; the expected proportion of each bin; missing rate, min, max,
    mean and standard deviation;
  - categories and booleans: the frequency of each category seen in training, of unseen
    categories (zero in the reference, by construction) and of missing;

* the score distribution: decile edges and proportions of the predicted probabilities;
* the label rate (when the frame has the label) and the row count;
* a random sample of at most ``sample_rows`` reference rows with their probabilities
  (Parquet) for the two-sample tests (KS, chi-square) and Evidently's report.

Reference and traffic are binned by the same helpers (:func:`bin_counts`,
:func:`category_counts`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from loan_default.errors import InputError, NotFoundError
from loan_default.schema import (
    INPUT_FIELDS,
    LABEL,
    FieldSpec,
    Kind,
    Role,
    coerce_frame,
    schema_fingerprint,
)

STATS_FILE = "reference.json"
SAMPLE_FILE = "reference_sample.parquet"
PROBABILITY = "probability"
"""Column of the sample holding the model's predicted probability of default."""
FORMAT_VERSION = 1
_QUANTILES = np.linspace(0.1, 0.9, 9)

MONITORED_FIELDS: tuple[FieldSpec, ...] = tuple(
    f for f in INPUT_FIELDS if f.role in (Role.FEATURE, Role.PROTECTED)
)
"""Input fields whose distribution is monitored: features and protected attributes."""


def is_categorical(spec: FieldSpec) -> bool:
    """Categories and booleans are compared by frequency; numbers and integers by bins."""
    return spec.kind in (Kind.CATEGORY, Kind.BOOLEAN)


class NumericProfile(BaseModel):
    """Frozen quantile bins of a numeric field (or of the score) and its summary statistics."""

    kind: Literal["numeric"] = "numeric"
    edges: list[float] = Field(
        description="Inner cut points e0 < ... < ek; bins (-inf, e0], (e0, e1], ..., (ek, +inf)."
    )
    proportions: list[float] = Field(
        description="Share of each of the len(edges) + 1 bins, then of missing (last)."
    )
    missing_rate: float
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None


class CategoricalProfile(BaseModel):
    """Frequencies of a categorical or boolean field."""

    kind: Literal["categorical"] = "categorical"
    categories: list[str] = Field(description="Categories seen in training, most frequent first.")
    proportions: list[float] = Field(
        description="Share of each category, then of unseen categories, then of missing (last)."
    )
    missing_rate: float


FieldProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class ReferenceStats(BaseModel):
    """The JSON part of a reference profile."""

    format_version: int = FORMAT_VERSION
    created_at: datetime
    schema_fingerprint: str
    rows: int = Field(description="Rows of the training frame the statistics describe.")
    sample_rows: int = Field(description="Rows kept in the Parquet sample.")
    seed: int
    label_rate: float | None = Field(None, description="Observed default rate, if labelled.")
    fields: dict[str, FieldProfile]
    score: NumericProfile = Field(description="Bins of the predicted probability of default.")


def category_labels(spec: FieldSpec, values: pd.Series) -> pd.Series:
    """A field's values as category names: booleans become ``"0"``/``"1"``, missing stays NaN."""
    if spec.kind is Kind.BOOLEAN:
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers.map({0.0: "0", 1.0: "1"}, na_action="ignore")
    return values


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins of ``edges``, then the count of missing (NaN) values."""
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return np.append(counts, missing.sum())


def category_counts(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Counts of each of ``categories``, then of any other value, then of missing values."""
    missing = values.isna().to_numpy()
    codes = pd.Categorical(values, categories=categories).codes
    known = np.bincount(codes[codes >= 0], minlength=len(categories))
    unseen = int(((codes < 0) & ~missing).sum())
    return np.concatenate([known, [unseen, int(missing.sum())]])


def _numeric_profile(values: np.ndarray) -> NumericProfile:
    present = values[~np.isnan(values)]
    n = len(values)
    edges = np.unique(np.quantile(present, _QUANTILES)) if present.size else np.array([])
    counts = bin_counts(values, edges)
    stats: dict[str, float | None] = dict.fromkeys(("min", "max", "mean", "std"))
    if present.size:
        std = float(present.std(ddof=1)) if present.size > 1 else 0.0
        stats = {"min": float(present.min()), "max": float(present.max()),
                 "mean": float(present.mean()), "std": std}  # fmt: skip
    return NumericProfile(
        edges=edges.tolist(),
        proportions=(counts / max(n, 1)).tolist(),
        missing_rate=float(counts[-1] / max(n, 1)),
        **stats,
    )


def _categorical_profile(values: pd.Series) -> CategoricalProfile:
    frequencies = values.value_counts(dropna=True)
    categories = [str(c) for c in frequencies.index]
    counts = category_counts(values.astype("object"), categories)
    n = max(len(values), 1)
    return CategoricalProfile(
        categories=categories,
        proportions=(counts / n).tolist(),
        missing_rate=float(counts[-1] / n),
    )


@dataclass
class ReferenceProfile:
    """Reference statistics plus a sample of reference rows with their probabilities."""

    stats: ReferenceStats
    sample: pd.DataFrame
    """Monitored fields (canonical dtypes), the label when known, and :data:`PROBABILITY`."""
    _sorted: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def sorted_values(self, name: str) -> np.ndarray:
        """The sample's non-missing values of a numeric field (or ``probability``), sorted."""
        if name not in self._sorted:
            values = self.sample[name].to_numpy(dtype="float64")
            self._sorted[name] = np.sort(values[~np.isnan(values)])
        return self._sorted[name]

    def save(self, folder: Path) -> None:
        """Write ``reference.json`` and ``reference_sample.parquet`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STATS_FILE).write_text(self.stats.model_dump_json(indent=1))
        self.sample.to_parquet(folder / SAMPLE_FILE, index=False)

    @classmethod
    def load(cls, folder: Path) -> ReferenceProfile:
        """Read a profile written by :meth:`save`; ``NotFoundError`` naming a missing file."""
        folder = Path(folder)
        stats_path, sample_path = folder / STATS_FILE, folder / SAMPLE_FILE
        for path in (stats_path, sample_path):
            if not path.is_file():
                raise NotFoundError(f"drift reference file {path} does not exist")
        try:
            stats = ReferenceStats.model_validate(json.loads(stats_path.read_text()))
        except (ValueError, TypeError) as exc:
            raise InputError(f"drift reference {stats_path} is not a valid profile: {exc}") from exc
        return cls(stats=stats, sample=pd.read_parquet(sample_path))


def build_reference(
    frame: pd.DataFrame,
    probabilities: np.ndarray,
    *,
    sample_rows: int = 100_000,
    seed: int = 0,
) -> ReferenceProfile:
    """Profile the training data and the model's probabilities on it.

    Args:
        frame: canonical training rows (the label column is used when present).
        probabilities: predicted probability of default of each row of ``frame``.
        sample_rows: at most this many rows are kept, drawn at random, for two-sample tests.
        seed: seed of that draw.

    Raises:
        InputError: ``frame`` is empty or ``probabilities`` does not match it.
    """
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    if len(frame) == 0:
        raise InputError("cannot build a drift reference from an empty frame")
    if len(probabilities) != len(frame):
        raise InputError(
            f"probabilities has {len(probabilities)} values but the frame has {len(frame)} rows"
        )
    if np.isnan(probabilities).any():
        raise InputError("probabilities contains NaN: every reference row must be scored")
    canonical = coerce_frame(frame)
    profiles: dict[str, NumericProfile | CategoricalProfile] = {}
    for spec in MONITORED_FIELDS:
        column = canonical[spec.name]
        if is_categorical(spec):
            profiles[spec.name] = _categorical_profile(category_labels(spec, column))
        else:
            profiles[spec.name] = _numeric_profile(column.to_numpy(dtype="float64"))
    label_rate = None
    if LABEL in canonical.columns and canonical[LABEL].notna().any():
        label_rate = float(canonical[LABEL].mean())
    keep = [spec.name for spec in MONITORED_FIELDS]
    if LABEL in canonical.columns:
        keep.append(LABEL)
    sample = canonical[keep].assign(**{PROBABILITY: probabilities})
    if len(sample) > sample_rows:
        sample = sample.sample(n=sample_rows, random_state=seed)
    stats = ReferenceStats(
        created_at=datetime.now(UTC),
        schema_fingerprint=schema_fingerprint(),
        rows=len(canonical),
        sample_rows=len(sample),
        seed=seed,
        label_rate=label_rate,
        fields=profiles,
        score=_numeric_profile(probabilities),
    )
    return ReferenceProfile(stats=stats, sample=sample.reset_index(drop=True))
