"""The training set's point-in-time join with the feature store.

When ``LOAN_FEATURE_STORE_JOIN`` is on, each training row's missing bureau fields are filled
from the feature store's bureau view as it stood at the row's ``application_date`` (Feast's
``get_historical_features``): a bureau update made after an application never reaches that
application's row, so the model learns only from what was known when it was scored. The
row's own values win, as at scoring (``loan_default.enrichment.complete``). The data hash is
taken again over the joined rows, and the views' versions are recorded with the model.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from loan_default.data.prepare import PreparedDataset
from loan_default.data.versioning import data_hash
from loan_default.feature_store.repository import BUREAU
from loan_default.feature_store.settings import FeatureStoreSettings
from loan_default.feature_store.store import point_in_time

log = logging.getLogger(__name__)


def join_feature_store(
    prepared: PreparedDataset, settings: FeatureStoreSettings | None = None
) -> PreparedDataset:
    """``prepared`` with its missing bureau fields filled as known at each application's date.

    Raises:
        ConfigError: no feature repository (run ``loanctl features apply``).
    """
    settings = settings or FeatureStoreSettings()
    fields = list(BUREAU.fields)
    before = int(prepared.frame.reindex(columns=fields).notna().sum().sum())
    frame = point_in_time(settings, prepared.frame)
    filled = int(frame.reindex(columns=fields).notna().sum().sum()) - before
    log.info("feature store join: %d bureau value(s) filled from %s", filled, BUREAU.label)
    return replace(
        prepared,
        frame=frame,
        data_hash=data_hash(frame),
        feature_views={**prepared.feature_views, BUREAU.base: BUREAU.label},
    )
