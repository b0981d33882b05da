"""Shared state of the serving workers: the index of issued prediction ids and the pause switch.

Why an SQLite index for feedback: an outcome arrives at any worker, months after the prediction
was answered by another one, so every worker must know every id. Scanning the traffic log per
feedback call grows with the log; an in-memory set per worker does not survive restarts nor see
other workers. A small SQLite table (WAL mode, so readers never block the writers) is written by
the worker in the same step as its traffic log, before the response leaves, and answers a lookup
with one primary-key probe. ``synchronous=NORMAL`` keeps a commit to a ``write(2)`` into the
WAL: a killed worker loses nothing it committed (only a machine crash can lose the last
transactions, as with the traffic log unless ``LOAN_TRAFFIC_FSYNC`` is on).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from loan_default import control
from loan_default.control import PauseState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id TEXT PRIMARY KEY,
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID
"""


class PredictionIndex:
    """Prediction ids issued by any worker (one connection per worker process).

    Args:
        path: the SQLite file (created with its folder).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def add(self, prediction_ids: Sequence[str], *, model_version: str, created_at: str) -> None:
        """Record issued ids in one transaction (durable once this returns)."""
        rows = [(pid, model_version, created_at) for pid in prediction_ids]
        with self._db:  # BEGIN ... COMMIT
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO predictions VALUES (?, ?, ?)", rows)

    def lookup(self, prediction_id: str) -> str | None:
        """The model version that made the prediction, or None if the id was never issued."""
        row = self._db.execute(
            "SELECT model_version FROM predictions WHERE prediction_id = ?", (prediction_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._db.close()


class PauseGate:
    """``loan_default.control.status`` read at most once per ``ttl`` seconds (a cheap check).

    Args:
        home: LOAN_HOME, where the pause switch lives.
        ttl: how long one read is reused; a pause takes effect within this delay.
    """

    def __init__(self, home: str | Path, *, ttl: float = 1.0) -> None:
        self.home = Path(home)
        self.ttl = ttl
        self._state: PauseState | None = None
        self._read_at = -float("inf")

    def current(self) -> PauseState | None:
        """The pause in force (possibly up to ``ttl`` seconds old), or None."""
        now = time.monotonic()
        if now - self._read_at >= self.ttl:
            self._state = control.status(self.home)
            self._read_at = now
        return self._state
