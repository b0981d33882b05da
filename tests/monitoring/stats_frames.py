"""Tiny canonical frames for the monitoring statistics tests (seeded, no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loan_default.schema import FIELDS, Kind, Role, coerce_frame


def canonical_frame(rows: int, *, seed: int = 0, with_label: bool = True) -> pd.DataFrame:
    """Random canonical applications: each field within its schema range, some values missing."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for spec in FIELDS:
        if spec.role in (Role.IDENTIFIER, Role.TIMESTAMP):
            continue
        if spec.role is Role.LABEL:
            if with_label:
                data[spec.name] = (rng.random(rows) < 0.1).astype(float)
            continue
        if spec.kind is Kind.CATEGORY:
            cats = list(spec.categories or ("self_employed", "government", "business", "trade"))
            weights = rng.dirichlet(np.ones(len(cats)) * 2)
            data[spec.name] = rng.choice(cats, size=rows, p=weights).astype(object)
        elif spec.kind is Kind.BOOLEAN:
            data[spec.name] = (rng.random(rows) < 0.3).astype(float)
        else:
            low = spec.minimum if spec.minimum is not None else 0.0
            high = spec.maximum if spec.maximum is not None else 1.0
            span = high - low
            values = low + span * rng.beta(2.0, 5.0, size=rows)
            if spec.kind is Kind.INTEGER:
                values = np.round(values)
            data[spec.name] = values
    frame = coerce_frame(pd.DataFrame(data), with_label=with_label)
    for name in ("own_house_age", "score_source_1", "client_occupation"):
        frame.loc[rng.random(rows) < 0.2, name] = None
    return frame
