"""A feature store with faults, for a real server (``LOAN_FEATURE_STORE_FEAST_FACTORY`` names
it): the in-memory store of a file, except that a call asking for a client named ``DOWN-*``
raises (the store is down) and one asking for ``SLOW-*`` hangs for 3 s (past the timeout)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from loan_default.enrichment import InMemoryLookup, StoredFeatures


class FaultyStore:
    def __init__(self, path: Path) -> None:
        self.inner = InMemoryLookup.from_file(path)

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        if any(client.startswith("DOWN-") for client in client_ids):
            raise ConnectionError("feature store: connection refused")
        if any(client.startswith("SLOW-") for client in client_ids):
            time.sleep(3)
        return self.inner.lookup(client_ids)
