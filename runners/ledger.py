"""Shared state of the serving workers: prediction ids, their index, and the pause switch.

Why an SQLite index for feedback: an outcome arrives at any worker, months after the prediction
was answered by another one, so every worker must know every id. Scanning the traffic log per
feedback call grows with the log; an in-memory set per worker does not survive restarts nor see
other workers. Small SQLite tables (WAL mode, so readers never block the writer; one file per
worker, so workers never queue on one write lock) are written in the same step as the traffic
log, before the response leaves, and answer a lookup with a primary-key probe per worker file.
``synchronous=NORMAL`` keeps a commit to a ``write(2)`` into the WAL: a killed worker loses
nothing it committed (only a machine crash can lose the last transactions, as with the traffic
log unless ``LOAN_TRAFFIC_FSYNC`` is on). The WAL's checkpoints (copying it into the database,
with an ``fdatasync`` of each file) run in a thread of their own once a second, not inside the
commit that happens to fill the WAL: SQLite's automatic checkpoint made every thousandth call
wait for two syncs, and cost 40-55 us per commit on average against 18-21 us without it
(``bench/ledger.py``).

Prediction ids are RFC 9562 version-7 UUIDs: 48 bits of Unix milliseconds, then random bits.
Time-ordered keys append at the right edge of the index's B-tree (random version-4 keys land
anywhere and cost a page search and split each), and an id tells when it was issued.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from loan_default import control
from loan_default.control import PauseState
from loan_default.errors import RecordingError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (
    prediction_id TEXT PRIMARY KEY,
    model_version TEXT NOT NULL
) WITHOUT ROWID
"""
_RANDOM_BITS = (1 << 62) - 1
log = logging.getLogger(__name__)


def new_prediction_ids(n: int) -> list[str]:
    """``n`` new version-7 UUIDs (canonical text), all stamped with the current millisecond."""
    prefix = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76
    entropy = os.urandom(10 * n)
    ids = []
    for k in range(0, 10 * n, 10):
        r = int.from_bytes(entropy[k : k + 10])  # 80 random bits: 12 + 62 of them are used
        h = f"{prefix | (r >> 68) << 64 | 0b10 << 62 | r & _RANDOM_BITS:032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


class PredictionIndex:
    """Prediction ids issued by any worker: each worker writes its own SQLite file, reads all.

    One file per writer keeps workers from queueing on SQLite's single write lock (whose busy
    handler sleeps for milliseconds: a latency tail under load); a lookup (rare: feedback)
    probes every worker's file.

    Args:
        folder: where the index files live (created).
        writer: this worker's file name stem, stable across its restarts (host and worker id).
        checkpoint_seconds: how often this worker's WAL is checkpointed, in a thread (None:
            by SQLite, inside the commit that fills it).
    """

    def __init__(
        self, folder: str | Path, writer: str, *, checkpoint_seconds: float | None = 1.0
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{writer}.sqlite"
        self._db = self._connect(self.path)
        self._db.execute(_SCHEMA)
        self._readers: dict[Path, sqlite3.Connection] = {self.path: self._db}
        self._checkpoints: _Checkpoints | None = None
        if checkpoint_seconds is not None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # _Checkpoints does it, off the calls
            self._checkpoints = _Checkpoints(self._connect(self.path), checkpoint_seconds)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def add(self, prediction_ids: Sequence[str], *, model_version: str) -> None:
        """Record issued ids in one transaction (durable against a killed worker on return).

        Raises:
            RecordingError: the index cannot be written (a full disk): nothing is added, and
                the predictions must not be answered.
        """
        rows = [(pid, model_version) for pid in prediction_ids]
        try:
            with self._db:  # BEGIN ... COMMIT, or ROLLBACK on an error
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR IGNORE INTO issued VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            raise RecordingError(
                f"the prediction index could not be written ({exc}); the prediction is not answered"
            ) from exc

    def lookup(self, prediction_id: str) -> str | None:
        """The model version that made the prediction, or None if no worker issued the id."""
        for path in sorted(self.folder.glob("*.sqlite")):
            db = self._readers.get(path)
            if db is None:
                db = self._readers[path] = self._connect(path)
            try:
                row = db.execute(
                    "SELECT model_version FROM issued WHERE prediction_id = ?", (prediction_id,)
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a file whose writer has not created it yet
                    continue
                raise RecordingError(f"the prediction index cannot be read ({exc})") from exc
            if row is not None:
                return str(row[0])
        return None

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        for db in self._readers.values():
            db.close()
        self._readers.clear()


class _Checkpoints(threading.Thread):
    """Checkpoints one index file's WAL every ``seconds`` (``PASSIVE``: never waits for the
    writer nor blocks it), and once more when stopped. A failed checkpoint (a full disk) is
    logged and tried again: the WAL keeps every commit meanwhile."""

    def __init__(self, db: sqlite3.Connection, seconds: float) -> None:
        super().__init__(name="prediction-index-checkpoints", daemon=True)
        self._db = db
        self._seconds = seconds
        self._stopping = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stopping.wait(self._seconds):
            self.checkpoint()
        self.checkpoint()
        self._db.close()

    def checkpoint(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("prediction index checkpoint failed (retried): %s", exc)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


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
