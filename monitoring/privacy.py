"""Data subject rights: find, export and erase one applicant's records.

An applicant is matched by ``application_id`` and, where the schema has it, ``client_id`` of
the logged application. Their records are: the prediction lines of the traffic log, the
feedback lines of those predictions (matched by ``prediction_id``), the sidecar's stored
predictions and outcomes (SQLite), and quarantined lines that mention them. The audit trail
holds only a keyed hash (pseudonym) of the applicant id, never the application: it is left
intact (so it stays verifiable) and the erasure itself is audited with the pseudonym.

Encrypted log lines are decrypted with the configured key ring (``LOAN_DATA_KEY_FILE``);
without it an encrypted log cannot be searched, and the commands say so instead of reporting
that nothing was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loan_default.errors import ConfigError, InputError
from loan_default.security.records import decode_line, is_encrypted
from loan_default.traffic import Kind, lines, log_files, utcnow
from monitoring import logfiles
from monitoring.state import MonitorState

ID_FIELDS = ("application_id", "client_id")


@dataclass
class Found:
    """One applicant's records, wherever they are."""

    applicant: str
    predictions: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    state_predictions: list[dict[str, Any]] = field(default_factory=list)
    state_feedback: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    files: dict[Kind, set[Path]] = field(default_factory=lambda: {"predictions": set(),
                                                                   "feedback": set()})  # fmt: skip

    @property
    def prediction_ids(self) -> set[str]:
        return {str(r["prediction_id"]) for r in self.predictions}

    @property
    def total(self) -> int:
        return (len(self.predictions) + len(self.feedback) + len(self.state_predictions)
                + len(self.state_feedback) + len(self.quarantine))  # fmt: skip

    def export(self) -> dict[str, Any]:
        return {
            "applicant": self.applicant,
            "exported_at": utcnow().isoformat(),
            "predictions": self.predictions,
            "feedback": self.feedback,
            "monitoring_state": {"predictions": self.state_predictions,
                                 "feedback": self.state_feedback},
            "quarantined_lines": self.quarantine,
        }  # fmt: skip


def _record(line: bytes) -> dict[str, Any] | None:
    """A log line as a dict; None if unreadable. ``ConfigError`` for an encrypted line
    without a key ring (the search would silently miss the applicant)."""
    try:
        record = decode_line(line)
    except InputError as exc:
        if is_encrypted(line) and "not set" in str(exc):
            raise ConfigError(
                "the traffic log is encrypted and LOAN_DATA_KEY_FILE is not set: the "
                "applicant's records cannot be searched without the data key ring"
            ) from None
        return None
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


class Matcher:
    """Decides, line by line, whether a log line is the applicant's."""

    def __init__(self, applicant: str) -> None:
        self.applicant = applicant
        self.prediction_ids: set[str] = set()
        self._needle = applicant.encode()

    def is_prediction(self, line: bytes) -> bool:
        if not is_encrypted(line) and self._needle not in line:
            return False  # cannot mention the id: skip the parse
        record = _record(line)
        application = (record or {}).get("application") or {}
        hit = any(str(application.get(f)) == self.applicant for f in ID_FIELDS
                  if application.get(f) is not None)  # fmt: skip
        if hit and record is not None:
            self.prediction_ids.add(str(record.get("prediction_id")))
        return hit

    def is_feedback(self, line: bytes) -> bool:
        record = _record(line)
        return record is not None and str(record.get("prediction_id")) in self.prediction_ids

    def is_quarantined(self, line: bytes) -> bool:
        entry = _record(line) or {}
        text = str(entry.get("line", ""))
        return f'"{self.applicant}"' in text or any(f'"{p}"' in text for p in self.prediction_ids)


def find(traffic: Path, state_db: Path | None, quarantine: Path | None, applicant: str) -> Found:
    """Every record of ``applicant`` (read-only)."""
    if not applicant.strip():
        raise InputError("--applicant: an application or client id is required")
    match = Matcher(applicant)
    found = Found(applicant)
    for kind, test, into in (("predictions", match.is_prediction, found.predictions),
                             ("feedback", match.is_feedback, found.feedback)):  # fmt: skip
        for path in log_files(traffic, kind):  # type: ignore[arg-type]
            for _, _, line in lines(path, 0):
                if test(line):
                    into.append(_record(line) or {})
                    found.files[kind].add(path)  # type: ignore[index]
    if quarantine is not None and quarantine.exists():
        for raw in quarantine.read_bytes().splitlines():
            if raw.strip() and match.is_quarantined(raw):
                found.quarantine.append(_record(raw) or {})
    if state_db is not None and state_db.exists():
        state = MonitorState(state_db)
        try:
            found.state_predictions, found.state_feedback = state_rows(state, match.prediction_ids)
        finally:
            state.close()
    return found


def state_rows(
    state: MonitorState, ids: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    db = state._db
    keys = orjson.dumps(sorted(ids)).decode()
    rows = db.execute(
        "SELECT * FROM predictions WHERE prediction_id IN (SELECT value FROM json_each(?))",
        (keys,),
    )
    cols = [d[0] for d in rows.description]  # every column, whatever the state's version
    preds = [dict(zip(cols, row, strict=True)) for row in rows]
    for row in preds:  # stored encrypted when a data key is configured
        row["attributes"] = _record(str(row["attributes"]).encode()) or row["attributes"]
    outcomes = [
        {"prediction_id": r[0], "observed_default": r[1], "ts": r[2]} for r in db.execute(
            "SELECT prediction_id, observed_default, ts FROM feedback "
            "WHERE prediction_id IN (SELECT value FROM json_each(?))", (keys,))
    ]  # fmt: skip
    return preds, outcomes


@dataclass(frozen=True)
class Erased:
    predictions: int
    feedback: int
    state_rows: int
    quarantined: int
    files: int
    late_lines: int


def erase(traffic: Path, state_db: Path, quarantine: Path | None, applicant: str) -> Erased:
    """Remove every record of ``applicant`` (see :mod:`monitoring.logfiles` for the safety).

    Runs under the exclusive maintenance lock: a running sidecar waits for it.
    """
    with logfiles.maintenance_lock(traffic, exclusive=True):
        state = MonitorState(state_db)
        try:
            logfiles.recover(traffic, state)
            found = find(traffic, state_db, quarantine, applicant)
            match = Matcher(applicant)
            match.prediction_ids = found.prediction_ids
            rewrites: dict[Kind, list[logfiles.Rewrite]] = {"predictions": [], "feedback": []}
            tests = {"predictions": match.is_prediction, "feedback": match.is_feedback}
            for kind in ("predictions", "feedback"):
                for path in sorted(found.files[kind]):
                    rw = logfiles.prepare(path, traffic, tests[kind])
                    if rw is not None:
                        rewrites[kind].append(rw)
            ids = orjson.dumps(sorted(found.prediction_ids)).decode()
            everything = rewrites["predictions"] + rewrites["feedback"]
            with state.transaction() as db:
                for kind in ("predictions", "feedback"):
                    checkpoint = state.checkpoint(kind)  # type: ignore[arg-type]
                    new = logfiles.remap(checkpoint, rewrites[kind])  # type: ignore[index]
                    MonitorState.save_checkpoint(db, kind, new)  # type: ignore[arg-type]
                removed = 0
                for table in ("predictions", "feedback"):
                    removed += db.execute(
                        f"DELETE FROM {table} WHERE prediction_id IN "
                        "(SELECT value FROM json_each(?))", (ids,)).rowcount  # fmt: skip
                MonitorState.put(db, logfiles.PENDING, [str(r.path) for r in everything])
                MonitorState.put(db, logfiles.EPOCH, logfiles.epoch(state) + 1)
            late = 0
            for rw in everything:
                kind = "predictions" if rw in rewrites["predictions"] else "feedback"
                late += logfiles.replace_lines(rw, tests[kind])
            with state.transaction() as db:
                MonitorState.put(db, logfiles.PENDING, [])
        finally:
            state.close()
        quarantined = _rewrite_quarantine(quarantine, match) if quarantine else 0
    return Erased(
        predictions=sum(r.removed for r in rewrites["predictions"]),
        feedback=sum(r.removed for r in rewrites["feedback"]),
        state_rows=removed,
        quarantined=quarantined,
        files=len(everything),
        late_lines=late,
    )


def _rewrite_quarantine(path: Path, match: Matcher) -> int:
    if not path.exists():
        return 0
    raw = path.read_bytes().splitlines(keepends=True)
    kept = [line for line in raw if not (line.strip() and match.is_quarantined(line.rstrip()))]
    if len(kept) == len(raw):
        return 0
    tmp = path.with_name(path.name + logfiles.SUFFIX)
    logfiles.write_synced(tmp, b"".join(kept))
    tmp.replace(path)
    logfiles.fsync_dir(path.parent)
    return len(raw) - len(kept)
