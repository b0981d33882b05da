"""Retention: delete each kind of record once its configured time is up, and audit it.

Kinds and what "age" means (``configs/monitoring.yaml``, section ``retention``, days):

* ``traffic``: a prediction log day folder (``predictions/<YYYY-MM-DD>/``), aged from the end
  of that UTC day. **Rule for open feedback windows**: a prediction day is deleted only once
  it is older than both ``traffic_days`` and ``feedback_window_days`` (outcomes may arrive
  that long after a decision, and an outcome without its prediction cannot be joined); a day
  kept for that reason is reported as *held* with the date it becomes deletable.
* ``feedback``: a feedback log day folder, after ``feedback_days``.
* ``quarantine``: a quarantined line, from ``quarantined_at``, after ``quarantine_days``.
* ``reports``: a window report, from the window's end, after ``report_days``.

A log file the sidecar has not finished reading is held too (it would be lost unmonitored).
Deletions run under the traffic folder's exclusive maintenance lock and drop the deleted files'
offsets from the sidecar's state (bumping ``log_epoch`` so a running sidecar re-reads). Each
kind's deletions are one audit entry (``retention.deleted``: kind, items, cutoff).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from loan_default.security.guard import record_control
from loan_default.security.rbac import Principal, actor
from loan_default.traffic import Checkpoint, Kind
from monitoring import logfiles
from monitoring.report import apply_retention
from monitoring.settings import MonitorSettings, RetentionConfig
from monitoring.state import MonitorState


@dataclass(frozen=True)
class Targets:
    """Where each kind of record lives."""

    home: Path
    traffic: Path
    quarantine: Path
    reports: Path
    state_db: Path

    @classmethod
    def of(cls, settings: MonitorSettings) -> Targets:
        return cls(settings.home, settings.traffic_path, settings.quarantine_path,
                   settings.reports_path, settings.state_db)  # fmt: skip


@dataclass
class Outcome:
    """What retention deleted (or would delete, in a dry run) and what it held back."""

    deleted: list[tuple[str, str]] = field(default_factory=list)
    held: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for kind, _ in self.deleted:
            kinds[kind] = kinds.get(kind, 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        return f"{text} deleted; {len(self.held)} held"


def _day_end(folder: Path) -> datetime | None:
    try:
        return datetime.strptime(folder.name, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        return None


def _unread(folder: Path, root: Path, checkpoint: Checkpoint) -> bool:
    for path in folder.glob("*.jsonl"):
        if checkpoint.offsets.get(str(path.relative_to(root)), 0) < path.stat().st_size:
            return True
    return False


def _log_days(
    kind: Kind, targets: Targets, config: RetentionConfig, now: datetime,
    checkpoint: Checkpoint, out: Outcome,
) -> list[Path]:  # fmt: skip
    """Day folders of ``kind`` due for deletion (holds recorded in ``out``)."""
    days = config.traffic_days if kind == "predictions" else config.feedback_days
    label = "traffic" if kind == "predictions" else "feedback"
    due: list[Path] = []
    base = targets.traffic / kind
    for folder in sorted(p for p in base.glob("*") if p.is_dir()) if base.exists() else []:
        end = _day_end(folder)
        if end is None or end > now - timedelta(days=days):
            continue
        if kind == "predictions" and end > now - timedelta(days=config.feedback_window_days):
            until = end + timedelta(days=config.feedback_window_days)
            out.held.append((label, folder.name, f"feedback window open until {until:%Y-%m-%d}"))
            continue
        if _unread(folder, targets.traffic, checkpoint):
            out.held.append((label, folder.name, "not yet read by the monitoring sidecar"))
            continue
        due.append(folder)
    return due


def enforce(
    targets: Targets,
    config: RetentionConfig,
    *,
    now: datetime,
    dry_run: bool,
    state: MonitorState | None = None,
    principal: Principal | None = None,
) -> Outcome:
    """Apply (or, with ``dry_run``, only list) the retention of every kind."""
    out = Outcome()
    who = principal or actor("monitoring")
    own_state = state is None and not dry_run
    if own_state:
        state = MonitorState(targets.state_db)
    try:
        with logfiles.maintenance_lock(targets.traffic, exclusive=True):
            _logs(targets, config, now, dry_run, state, out, who)
        _quarantine(targets.quarantine, config.quarantine_days, now, dry_run, out, who, targets)
        cutoff = now - timedelta(days=config.report_days)
        removed = apply_retention(targets.reports, days=config.report_days, now=now,
                                  dry_run=dry_run)  # fmt: skip
        out.deleted += [("reports", r) for r in removed]
        if removed and not dry_run:
            _audit(who, targets, "reports", removed, cutoff)
    finally:
        if own_state and state is not None:
            state.close()
    return out


def _logs(
    targets: Targets, config: RetentionConfig, now: datetime, dry_run: bool,
    state: MonitorState | None, out: Outcome, who: Principal,
) -> None:  # fmt: skip
    checkpoints = {k: state.checkpoint(k) if state else Checkpoint()
                   for k in ("predictions", "feedback")}  # fmt: skip
    due = {k: _log_days(k, targets, config, now, checkpoints[k], out)
           for k in ("predictions", "feedback")}  # fmt: skip
    for kind, folders in due.items():
        label = "traffic" if kind == "predictions" else "feedback"
        out.deleted += [(label, f.name) for f in folders]
        if dry_run or not folders:
            continue
        gone = {str(p.relative_to(targets.traffic)) for f in folders for p in f.glob("*.jsonl")}
        for folder in folders:
            shutil.rmtree(folder)
        if state is not None:
            with state.transaction() as db:
                kept = {k: v for k, v in checkpoints[kind].offsets.items() if k not in gone}
                MonitorState.save_checkpoint(db, kind, Checkpoint(offsets=kept))  # type: ignore[arg-type]
                MonitorState.put(db, logfiles.EPOCH, logfiles.epoch(state) + 1)
        days = config.traffic_days if kind == "predictions" else config.feedback_days
        _audit(who, targets, label, [f.name for f in folders], now - timedelta(days=days))


def _quarantine(
    path: Path, days: float, now: datetime, dry_run: bool, out: Outcome, who: Principal,
    targets: Targets,
) -> None:  # fmt: skip
    if not path.exists():
        return
    cutoff = now - timedelta(days=days)
    kept: list[bytes] = []
    expired: list[str] = []
    for raw in path.read_bytes().splitlines(keepends=True):
        try:
            entry = orjson.loads(raw)
            when = datetime.fromisoformat(str(entry["quarantined_at"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            kept.append(raw)  # not ours to judge: kept
            continue
        if when < cutoff:
            expired.append(f"{entry.get('file')}@{entry.get('offset')}")
        else:
            kept.append(raw)
    out.deleted += [("quarantine", e) for e in expired]
    if dry_run or not expired:
        return
    tmp = path.with_name(path.name + logfiles.SUFFIX)
    logfiles.write_synced(tmp, b"".join(kept))
    tmp.replace(path)
    _audit(who, targets, "quarantine", expired, cutoff)


def _audit(who: Principal, targets: Targets, kind: str, items: list[str], cutoff: datetime) -> None:
    record_control("retention.deleted", who, home=targets.home, kind=kind, count=len(items),
                   items=items[:1000], cutoff=cutoff.isoformat())  # fmt: skip
