"""Client keys of generated applications: repeat clients, seeded, other columns unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loan_default.data.clients import MAX_APPLICATIONS, client_ids
from loan_default.data.generate import generate_applications
from loan_default.schema import LoanApplication, Role, field, frame_to_records


def test_some_clients_apply_again_soon_after() -> None:
    frame = generate_applications(5000, seed=11)
    counts = frame["client_id"].value_counts()
    repeats = frame["client_id"].duplicated().mean()
    assert 0.08 < repeats < 0.2  # about REPEAT_SHARE, less where no earlier client is at hand
    assert (counts >= 3).any() and counts.max() <= MAX_APPLICATIONS
    ordered = frame.sort_values("application_date")
    gaps = ordered.groupby("client_id")["application_date"].diff().dropna()
    assert (gaps >= pd.Timedelta(0)).all()
    assert pd.Timedelta(gaps.median()) < pd.Timedelta(
        days=45
    )  # stacking: the next one follows within weeks


def test_client_keys_are_seeded_and_leave_the_other_columns_alone() -> None:
    a = generate_applications(300, seed=5)
    b = generate_applications(300, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert generate_applications(300, seed=6)["client_id"].iloc[0].startswith("CLI-6-")
    dates = a["application_date"].to_numpy()
    shuffled = np.random.default_rng(0).permutation(len(dates))
    again = client_ids(dates[shuffled], seed=5)  # keys follow dates, not row order
    assert dict(zip(a["application_id"].to_numpy()[shuffled], again, strict=True)) == dict(
        zip(a["application_id"], a["client_id"], strict=True)
    )


def test_the_client_key_is_an_unscored_identifier_accepted_by_the_api() -> None:
    spec = field("client_id")
    assert spec.role is Role.IDENTIFIER and not spec.required
    record = frame_to_records(generate_applications(3, seed=1))[0]
    assert LoanApplication.model_validate(record).client_id == record["client_id"]  # type: ignore[attr-defined]
