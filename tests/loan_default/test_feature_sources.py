"""The source fields of every model column follow the feature engineering's computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_default.data.generate import generate_applications
from loan_default.derived import feature_sources
from loan_default.features import FeatureEngineer
from loan_default.schema import FEATURE_FIELDS, LABEL, Kind


@pytest.fixture(scope="module")
def engineer_and_frame() -> tuple[FeatureEngineer, pd.DataFrame]:
    frame = generate_applications(400, seed=11).drop(columns=[LABEL])
    return FeatureEngineer(min_category_count=1, clip=False).fit(frame), frame


def _changed(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    """The frame with ``field`` moved on every row: a number scaled and shifted, a boolean
    flipped, a category rotated, and half the rows set missing."""
    out = frame.copy()
    spec = next(f for f in FEATURE_FIELDS if f.name == field)
    column = out[field]
    if spec.kind is Kind.CATEGORY:
        values = sorted(column.dropna().astype(str).unique())
        out[field] = [values[(values.index(v) + 1) % len(values)] if isinstance(v, str) else
                      values[0] for v in column]  # fmt: skip
    elif spec.kind is Kind.BOOLEAN:
        out[field] = column.map(lambda v: None if pd.isna(v) else not v).astype(object)
    else:
        out[field] = pd.to_numeric(column) * 1.37 + 3.0
    out.loc[out.index[::2], field] = None
    return out


def test_every_column_moves_with_exactly_its_declared_sources(
    engineer_and_frame: tuple[FeatureEngineer, pd.DataFrame],
) -> None:
    fe, frame = engineer_and_frame
    names = [str(n) for n in fe.get_feature_names_out()]
    sources = feature_sources()
    assert list(sources) == names  # one entry per column, in column order
    before = fe.transform(frame)
    moved_by: dict[str, set[str]] = {name: set() for name in names}
    for spec in FEATURE_FIELDS:
        after = fe.transform(_changed(frame, spec.name))
        differs = ~np.isclose(before, after, equal_nan=True, rtol=0, atol=0)
        for j in np.flatnonzero(differs.any(axis=0)):
            moved_by[names[j]].add(spec.name)
    for name in names:
        assert moved_by[name] == set(sources[name]), name
