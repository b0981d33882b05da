"""The sidecar's durable state: one SQLite file under ``<home>/monitoring``.

It holds the reader checkpoints, a bounded store of recent predictions (outcomes arrive
windows later and are joined to them by ``prediction_id``), the outcomes themselves, and the
triggers' memory. A window's predictions, the checkpoint after it and the trigger state are
committed in one transaction, after the window's report is written: that is what makes a
restart neither skip nor double-count a record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loan_default.decision import legacy_decisions
from loan_default.security.records import configured_cipher, decode_line
from loan_default.traffic import Checkpoint, FeedbackRecord, Kind, PredictionRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (kind TEXT PRIMARY KEY, checkpoint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id TEXT PRIMARY KEY,
    window_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    model_version TEXT NOT NULL,
    probability REAL NOT NULL,
    risk_category TEXT NOT NULL,
    attributes TEXT NOT NULL,
    decision TEXT
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prediction_id TEXT NOT NULL UNIQUE,
    observed_default INTEGER NOT NULL,
    ts TEXT NOT NULL
);
"""


def iso(moment: datetime) -> str:
    """A UTC timestamp that sorts as text: ``2026-11-23T23:50:00.000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MonitorState:
    """Durable sidecar state. One writer (the sidecar); readers may open it concurrently."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time uses it, not necessarily the one that opened it (the sidecar's
        # loop may run in a thread of its own).
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(predictions)")}
        if "decision" not in columns:  # a state file from before decisions were logged
            self._db.execute("ALTER TABLE predictions ADD COLUMN decision TEXT")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- checkpoints and small values ---------------------------------------------------------
    def checkpoint(self, kind: Kind) -> Checkpoint:
        row = self._db.execute("SELECT checkpoint FROM cursor WHERE kind = ?", (kind,)).fetchone()
        return Checkpoint.model_validate_json(row[0]) if row else Checkpoint()

    @staticmethod
    def save_checkpoint(db: sqlite3.Connection, kind: Kind, checkpoint: Checkpoint) -> None:
        db.execute(
            "INSERT OR REPLACE INTO cursor (kind, checkpoint) VALUES (?, ?)",
            (kind, checkpoint.model_dump_json()),
        )

    def get(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    @staticmethod
    def put(db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (key, orjson.dumps(value).decode()),
        )

    # -- predictions and outcomes -------------------------------------------------------------
    @staticmethod
    def add_predictions(
        db: sqlite3.Connection,
        window_id: str,
        records: Iterable[PredictionRecord],
        attributes: Sequence[str],
    ) -> None:
        """Keep a window's predictions for the outcomes that will arrive later, with the
        application fields the fairness screen groups by (``attributes``), encrypted when a
        data key is configured (``LOAN_DATA_KEY_FILE``: they are personal data)."""
        cipher = configured_cipher()

        def sealed(values: dict[str, Any]) -> str:
            text = orjson.dumps(values)
            return (cipher.encrypt(text) if cipher is not None else text).decode()

        rows = [
            (
                r.prediction_id,
                window_id,
                iso(r.timestamp),
                r.model_version,
                r.default_probability,
                r.risk_category,
                sealed({a: r.application.get(a) for a in attributes}),
                r.decided(),
            )
            for r in records
        ]
        db.executemany(
            "INSERT OR REPLACE INTO predictions (prediction_id, window_id, ts, model_version, "
            "probability, risk_category, attributes, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def add_feedback(self, records: Iterable[FeedbackRecord], checkpoint: Checkpoint) -> int:
        """Store outcomes and the feedback checkpoint.

        One rule for repeated outcomes of one prediction: the one recorded last in the log (in
        reading order) replaces the earlier ones, within one call as across calls; the service
        accepts each (a correction is legitimate), and the sidecar keeps the last.
        """
        latest = {r.prediction_id: r for r in records}  # a later duplicate replaces the earlier
        rows = [(r.prediction_id, r.observed_default, iso(r.timestamp)) for r in latest.values()]
        with self.transaction() as db:
            db.execute(
                "DELETE FROM feedback WHERE prediction_id IN (SELECT value FROM json_each(?))",
                (orjson.dumps([r[0] for r in rows]).decode(),),
            )
            db.executemany(
                "INSERT INTO feedback (prediction_id, observed_default, ts) VALUES (?, ?, ?)", rows
            )
            self.save_checkpoint(db, "feedback", checkpoint)
        return len(rows)

    def labelled(self, model_version: str, limit: int) -> pd.DataFrame:
        """The latest ``limit`` outcomes of a model's predictions, newest first.

        Columns: ``observed_default``, ``probability``, ``risk_category``, ``decision`` (for
        predictions stored before decisions: the one their risk band implied) and the attributes
        stored with the prediction.
        """
        rows = self._db.execute(
            """SELECT f.observed_default, p.probability, p.risk_category, p.attributes,
                      p.decision
               FROM feedback f JOIN predictions p USING (prediction_id)
               WHERE p.model_version = ? ORDER BY f.seq DESC LIMIT ?""",
            (model_version, limit),
        ).fetchall()
        attributes = [decode_line(r[3].encode()) for r in rows]
        frame = pd.DataFrame(
            {
                "observed_default": np.array([r[0] for r in rows], dtype=np.int64),
                "probability": np.array([r[1] for r in rows], dtype=np.float64),
                "risk_category": [r[2] for r in rows],
                "decision": [
                    r[4] if r[4] is not None else legacy_decisions([r[2]])[0] for r in rows
                ],
            }
        )
        for name in sorted({k for a in attributes for k in a}):
            frame[name] = [a.get(name) for a in attributes]
        return frame

    def prune(self, *, older_than: datetime, max_predictions: int) -> int:
        """Forget predictions (and their outcomes) past retention or beyond the bound."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM predictions WHERE ts < ?", (iso(older_than),))
            removed = cur.rowcount
            cur = db.execute(
                """DELETE FROM predictions WHERE prediction_id IN (
                       SELECT prediction_id FROM predictions ORDER BY ts DESC LIMIT -1 OFFSET ?)""",
                (max_predictions,),
            )
            removed += cur.rowcount
            db.execute(
                "DELETE FROM feedback WHERE ts < ? AND prediction_id NOT IN "
                "(SELECT prediction_id FROM predictions)",
                (iso(older_than - timedelta(days=1)),),
            )
        return removed

    def count(self, table: str) -> int:
        if table not in ("predictions", "feedback"):
            raise ValueError(f"unknown table {table!r}")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
