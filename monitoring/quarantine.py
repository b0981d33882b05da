"""Where the sidecar keeps the log lines it cannot use, so that nothing is dropped unseen.

A line of the traffic log that is not JSON, a partial line left by a failed write, or a record
that breaks its contract (a timestamp without a timezone, a value of the wrong type) would stop
a reader that trusted it, or be lost by one that skipped it silently. The sidecar reads past it
(everything before and after is processed) and appends it here, one JSON object per line::

    {"kind": "feedback", "file": "feedback/2026-11-02/host-w0.jsonl", "offset": 5120,
     "reason": "not a valid FeedbackRecord: timestamp: Input should have timezone info",
     "line": "...", "quarantined_at": "2026-11-02T10:15:00.123456+00:00"}

``file`` is relative to the traffic folder and ``offset`` is the byte where the line starts, so
``tail -c +$((offset + 1)) file | head -1`` shows it in place. Each line is kept once: a rerun
that reads it again (the reader's checkpoint is saved with the windows, not per line) finds it
already here. The file holds application data like the traffic log itself, with the same
permissions (0640); ``line`` is cut at :data:`MAX_LINE_CHARS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from loan_default.traffic import BadLine, Kind, utcnow

MAX_LINE_CHARS = 8192


class Quarantine:
    """The quarantine file of unreadable log lines (created on the first one).

    Args:
        path: the JSON-lines file (``<monitor dir>/quarantine.jsonl``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: set[tuple[str, int]] = set()
        if self.path.exists():
            for raw in self.path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(raw)
                    self._seen.add((str(entry["file"]), int(entry["offset"])))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a torn last line of our own: that entry is written again

    def add(self, kind: Kind, bad: BadLine) -> bool:
        """Keep ``bad`` unless it is already here; returns whether it was new."""
        key = (bad.file, bad.offset)
        if key in self._seen:
            return False
        entry = {
            "kind": kind,
            "file": bad.file,
            "offset": bad.offset,
            "reason": bad.reason,
            "line": bad.line.decode("utf-8", errors="replace")[:MAX_LINE_CHARS],
            "quarantined_at": utcnow().isoformat(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, orjson.dumps(entry) + b"\n")
        finally:
            os.close(fd)
        self._seen.add(key)
        return True

    def __len__(self) -> int:
        return len(self._seen)
