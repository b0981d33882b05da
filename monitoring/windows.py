"""Reading the prediction log from a checkpoint and cutting it into windows.

Exactly-once hand-over: every record read carries the byte offset just after its line, the
windows are consecutive runs of records, and a closed :class:`Window` carries the
:class:`~loan_default.traffic.Checkpoint` that covers exactly its records and everything
before them. The sidecar persists that checkpoint only after the window's results are
written, so a reader killed at any point re-reads the unfinished window and nothing else.

Several service workers write one file each. :class:`LogTail` merges them by timestamp while
keeping every file's own order (a head-only merge), so a run of merged records is always a
prefix of each file: the property the checkpoint arithmetic relies on.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from pydantic import ValidationError

from loan_default.errors import InputError
from loan_default.security.records import decode_line
from loan_default.traffic import Checkpoint, PredictionRecord, log_files

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Positioned:
    """A prediction read from ``file`` (relative to the log root), ending at byte ``end``."""

    file: str
    end: int
    record: PredictionRecord


@dataclass(frozen=True)
class Window:
    """Consecutive predictions analysed together."""

    records: list[PredictionRecord]
    checkpoint: Checkpoint
    """The reader's position after this window: persist it once the results are written."""
    closed_by: str
    """``count``, ``time`` (by timestamps or the clock) or ``flush`` (end of a ``--once``)."""

    @property
    def start(self) -> datetime:
        return min(r.timestamp for r in self.records)

    @property
    def end(self) -> datetime:
        return max(r.timestamp for r in self.records)


class LogTail:
    """New complete prediction lines of every log file, from a checkpoint onwards.

    The tail's position moves ahead of the persisted checkpoint as it reads; records that
    were read but not yet part of a closed window are simply read again after a restart.
    """

    def __init__(self, root: str | Path, checkpoint: Checkpoint) -> None:
        self.root = Path(root)
        self._offsets = dict(checkpoint.offsets)
        self.bad_lines = 0

    def poll(self, max_records: int | None = None) -> list[Positioned]:
        """Read what was appended since the last poll (at most ``max_records`` per file)."""
        per_file = [
            list(self._read_file(path, max_records)) for path in log_files(self.root, "predictions")
        ]
        for items in per_file:
            if items:
                self._offsets[items[-1].file] = items[-1].end
        return list(heapq.merge(*per_file, key=lambda p: p.record.timestamp))

    def _read_file(self, path: Path, limit: int | None) -> Iterator[Positioned]:
        key = str(path.relative_to(self.root))
        start = self._offsets.get(key, 0)
        if path.stat().st_size <= start:
            return
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
        pos, count = 0, 0
        while (end := data.find(b"\n", pos)) != -1 and (limit is None or count < limit):
            line, pos = data[pos:end], end + 1
            if not line.strip():
                continue
            try:
                record = PredictionRecord.model_validate(decode_line(line))
            except (orjson.JSONDecodeError, ValidationError, InputError) as exc:
                self.bad_lines += 1
                log.warning("skipping unreadable line in %s at byte %d: %s", key, start + pos, exc)
                # Still advance past it: a bad line must not block the log forever.
                self._offsets[key] = start + pos
                continue
            count += 1
            yield Positioned(key, start + pos, record)


class Windower:
    """Groups records into windows by count and by time.

    A window closes when it holds ``max_records``; or when it spans ``max_seconds`` of
    prediction timestamps, or its first record is ``max_seconds`` old by the clock, provided
    it holds at least ``min_records`` (smaller ones keep collecting: statistics on a handful
    of rows would only raise false alarms); or at a ``flush`` (end of a one-off pass) with at
    least ``min_records``.
    """

    def __init__(
        self, checkpoint: Checkpoint, *, max_records: int, max_seconds: float, min_records: int
    ) -> None:
        self._position = dict(checkpoint.offsets)
        self._pending: list[Positioned] = []
        self.max_records = max_records
        self.span = timedelta(seconds=max_seconds)
        self.min_records = min_records

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, items: Iterable[Positioned]) -> None:
        self._pending.extend(items)

    def ready(self, *, now: datetime | None = None, flush: bool = False) -> list[Window]:
        """Cut every window that is complete; the rest stays pending."""
        windows: list[Window] = []
        while (cut := self._cut(now, flush)) is not None:
            size, reason = cut
            windows.append(self._take(size, reason))
        return windows

    def _cut(self, now: datetime | None, flush: bool) -> tuple[int, str] | None:
        pending = self._pending
        if len(pending) < self.min_records:
            return None
        first = pending[0].record.timestamp
        limit = min(len(pending), self.max_records)
        for i in range(self.min_records, limit):
            if pending[i].record.timestamp - first >= self.span:
                return i, "time"
        if len(pending) >= self.max_records:
            return self.max_records, "count"
        if now is not None and now - first >= self.span:
            return len(pending), "time"
        if flush:
            return len(pending), "flush"
        return None

    def _take(self, size: int, reason: str) -> Window:
        taken, self._pending = self._pending[:size], self._pending[size:]
        for item in taken:  # files are read in order, so the last one seen is the furthest
            self._position[item.file] = item.end
        return Window(
            records=[p.record for p in taken],
            checkpoint=Checkpoint(offsets=dict(self._position)),
            closed_by=reason,
        )
