"""The one-row transcription of the derived features gives the block definition's bits.

``derive_row`` (Python floats, the API's single applications) and ``_derive`` (numpy blocks,
training and batches) must agree exactly: a last-bit difference could move a row across a
tree's split. Hypothesis generates rows with what the edges are made of: missing values,
zero, negative, vanishing and huge denominators, the employment sentinel, scores at 0 and 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loan_default.data.generate import generate_applications
from loan_default.derived import _EMPLOYED, DERIVED, INTERACTIONS, _derive, derive_row
from loan_default.features import ROW_PATH_ROWS, FeatureEngineer
from loan_default.schema import FEATURE_FIELDS, Kind

N_OUT = len(DERIVED) + len(INTERACTIONS)
NUMERIC = [f for f in FEATURE_FIELDS if f.kind is not Kind.CATEGORY]
SCORES = {"score_source_1", "score_source_2", "score_source_3"}

edge = st.sampled_from([math.nan, 0.0, -0.0, 1.0, 0.999999, 1.000001, -1.0, 5e-324, 1e-300,
                        1e300, 365_000.0, 6574.5])  # fmt: skip
plain = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
score = st.one_of(st.just(math.nan), st.floats(min_value=0.0, max_value=1.0))


@st.composite
def base_rows(draw: st.DrawFn) -> list[float]:
    """A canonical row as the transform builds it (NaN = missing), category codes included."""
    row = []
    for spec in FEATURE_FIELDS:
        if spec.name in SCORES:
            row.append(draw(score))
        elif spec.kind is Kind.CATEGORY:
            row.append(draw(st.one_of(st.just(math.nan), st.integers(0, 30).map(float))))
        else:
            row.append(draw(st.one_of(edge, plain)))
    if row[_EMPLOYED] >= 365_000.0:
        row[_EMPLOYED] = math.nan  # as the transform does before deriving
    return row


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign of zero."""
    np.testing.assert_array_equal(a, b)
    assert (np.signbit(a) == np.signbit(b)).all(), (a, b)


@settings(max_examples=400, deadline=None)
@given(base_rows())
def test_derive_row_is_derive_bit_for_bit(row: list[float]) -> None:
    block = np.array([row], dtype=np.float64)
    out = np.empty((1, N_OUT))
    with np.errstate(all="ignore"):  # overflow to inf is part of the arithmetic compared
        _derive(block, out)
        extended = list(row)
        derive_row(extended)
    assert len(extended) == len(row) + N_OUT
    assert_same_bits(np.array(extended[len(row) :]), out[0])


@pytest.fixture(scope="module")
def engineer() -> FeatureEngineer:
    return FeatureEngineer().fit(generate_applications(2000, seed=5))


def _pair(engineer: FeatureEngineer, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(row path, block path) for ``record``."""
    block = engineer.transform_records([record] * (ROW_PATH_ROWS + 1))[:1]
    return engineer.transform_records([record]), block


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_one_application_takes_the_row_path_to_the_same_matrix(
    engineer: FeatureEngineer, data: st.DataObject
) -> None:
    record: dict[str, Any] = {}
    for spec in NUMERIC:
        value = data.draw(st.one_of(st.none(), edge, plain), label=spec.name)
        if value is not None:
            record[spec.name] = value
    for spec in FEATURE_FIELDS:
        if spec.kind is Kind.CATEGORY and data.draw(st.booleans(), label=f"{spec.name}?"):
            known = engineer.vocabularies_[spec.name]
            record[spec.name] = data.draw(st.sampled_from([*known, "never-seen"]))
    with np.errstate(all="ignore"):
        one, block = _pair(engineer, record)
    # Equal values; the sign of a zero the clipping raises to 0.0 may differ (np.maximum(-0.0,
    # 0.0) keeps either), which no model can tell: -0.0 == 0.0 in every split and product.
    np.testing.assert_array_equal(one, block)


def _records(rows: int, seed: int) -> list[dict[str, Any]]:
    frame = generate_applications(rows, seed=seed).drop(columns=["default"])
    return [
        {str(k): v for k, v in r.items()} for r in frame.replace({np.nan: None}).to_dict("records")
    ]


def test_generated_applications_and_clipping_off() -> None:
    frame = generate_applications(300, seed=8).drop(columns=["default"])
    records = _records(300, 8)
    for engineer in (FeatureEngineer().fit(frame), FeatureEngineer(clip=False).fit(frame)):
        for record in records:
            np.testing.assert_array_equal(*_pair(engineer, record))


def test_a_few_records_take_the_row_path_each_as_alone(engineer: FeatureEngineer) -> None:
    records = _records(ROW_PATH_ROWS, 3)
    few = engineer.transform_records(records)
    np.testing.assert_array_equal(few, np.vstack([_pair(engineer, r)[1] for r in records]))


def test_a_refit_measures_the_clipping_ranges_afresh() -> None:
    engineer = FeatureEngineer().fit(generate_applications(500, seed=1))
    small = {"client_income": 1e9}
    before = engineer.transform_records([small])
    engineer.fit(generate_applications(500, seed=2))  # other ranges
    np.testing.assert_array_equal(engineer.transform_records([small]), _pair(engineer, small)[1])
    assert "_row_bounds_" not in engineer.__getstate__()
    assert before.shape == (1, engineer.n_features_out_)


def test_the_block_path_reads_full_and_partial_records_alike(engineer: FeatureEngineer) -> None:
    full = _records(ROW_PATH_ROWS + 4, 9)  # every field present: read in one C call a record
    partial = [{k: v for k, v in r.items() if v is not None} for r in full]  # some left out
    assert any(len(p) < len(f) for p, f in zip(partial, full, strict=True))
    block = engineer.transform_records(full)
    np.testing.assert_array_equal(block, engineer.transform_records(partial))
    np.testing.assert_array_equal(block, np.vstack([engineer.transform_records([r]) for r in full]))
