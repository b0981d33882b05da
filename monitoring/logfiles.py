"""Rewriting and deleting traffic-log files safely (erasure, retention) while others use them.

Three parties touch the log: the service's writers (append-only, one file per process and
day), the sidecar (reads from byte offsets kept in its SQLite state) and the maintenance
commands here. The rules that keep them apart:

* **A lock**: ``<traffic_dir>/.maintenance.lock``. The sidecar holds it shared for each of its
  rounds; maintenance takes it exclusively, so the sidecar never reads a file being replaced
  and never commits offsets into a file that changed under it.
* **Atomic replacement with a journal**: a file losing lines is written anew beside itself
  (``*.rewrite``, fsync), then one SQLite transaction moves the sidecar's offsets to the new
  byte positions, drops the erased rows, records the pending renames and bumps ``log_epoch``
  (the commit point); then the renames happen (and the folder is fsynced), then the journal is
  cleared. A crash before the commit leaves the old files and state (the ``*.rewrite`` files
  are removed at the next run); after it, :func:`recover` finishes the renames. No other
  record is lost in either case.
* **Writers keep appending**: a writer whose file is replaced notices (its descriptor's link
  count drops to 0) and reopens the path; lines it appended to the old file between our read
  and the rename are copied over right after the rename (:func:`replace_lines`).
* **Epoch**: a running sidecar reloads its readers from the persisted offsets when
  ``log_epoch`` changed.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loan_default.traffic import Checkpoint
from monitoring.state import MonitorState

LOCK_NAME = ".maintenance.lock"
SUFFIX = ".rewrite"
EPOCH = "log_epoch"
PENDING = "pending_renames"


@contextmanager
def maintenance_lock(root: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the traffic folder's maintenance lock (shared: readers; exclusive: rewrites)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass
class Rewrite:
    """A log file to replace by the lines kept."""

    path: Path
    key: str
    """The file relative to the traffic root (the sidecar's offset key)."""
    removed: int
    size: int
    """Bytes of the original that were read."""
    offset_map: list[tuple[int, int]]
    """(old end offset, new end offset) of each line, in order."""

    @property
    def tmp(self) -> Path:
        return self.path.with_name(self.path.name + SUFFIX)

    def new_offset(self, old: int) -> int:
        """Where a reader that had consumed ``old`` bytes stands in the new file."""
        best = 0
        for old_end, new_end in self.offset_map:
            if old_end > old:
                break
            best = new_end
        return best


def prepare(path: Path, root: Path, drop: Callable[[bytes], bool]) -> Rewrite | None:
    """Write ``path`` without the lines ``drop`` selects to ``<path>.rewrite`` (fsynced).

    Returns None when no line is dropped (nothing to do).
    """
    data = path.read_bytes()
    size = len(data) - (len(data) - data.rfind(b"\n") - 1)  # complete lines only
    kept: list[bytes] = []
    offset_map: list[tuple[int, int]] = []
    removed = pos = new = 0
    while pos < size:
        end = data.index(b"\n", pos) + 1
        line = data[pos:end]
        if line.strip() and drop(line[:-1]):
            removed += 1
        else:
            kept.append(line)
            new += len(line)
        offset_map.append((end, new))
        pos = end
    if not removed:
        return None
    rewrite = Rewrite(path, str(path.relative_to(root)), removed, size, offset_map)
    write_synced(rewrite.tmp, b"".join(kept), mode=path.stat().st_mode & 0o777)
    return rewrite


def write_synced(path: Path, payload: bytes, *, mode: int = 0o640) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(payload)
        written = 0
        while written < len(payload):
            written += os.write(fd, view[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remap(checkpoint: Checkpoint, rewrites: list[Rewrite]) -> Checkpoint:
    offsets = dict(checkpoint.offsets)
    for rw in rewrites:
        if rw.key in offsets:
            offsets[rw.key] = rw.new_offset(min(offsets[rw.key], rw.size))
    return Checkpoint(offsets=offsets)


def replace_lines(rewrite: Rewrite, drop: Callable[[bytes], bool]) -> int:
    """Rename the new file over the old; copy lines a writer appended meanwhile (filtered).

    Returns how many late lines were copied.
    """
    try:
        old_fd = os.open(rewrite.path, os.O_RDONLY)
    except FileNotFoundError:
        old_fd = -1
    try:
        rewrite.tmp.replace(rewrite.path)
        fsync_dir(rewrite.path.parent)
        if old_fd < 0:
            return 0
        time.sleep(0.05)  # a writer that checked its file just before the rename writes now
        late = b""
        while len(chunk := os.pread(old_fd, 1 << 20, rewrite.size + len(late))) > 0:
            late += chunk
        if not late:
            return 0
        keep = [line + b"\n" for line in late.split(b"\n")[:-1] if not drop(line)]
        if keep:
            fd = os.open(rewrite.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, b"".join(keep))
                os.fsync(fd)
            finally:
                os.close(fd)
        return len(keep)
    finally:
        if old_fd >= 0:
            os.close(old_fd)


def recover(root: Path, state: MonitorState | None) -> int:
    """Finish the renames of an interrupted rewrite; drop rewrites never committed.

    Call with the maintenance lock held exclusively. Returns the files renamed.
    """
    pending = [] if state is None else list(state.get(PENDING) or [])
    done = 0
    for target in pending:
        tmp = Path(target + SUFFIX)
        if tmp.exists():
            tmp.replace(target)
            fsync_dir(tmp.parent)
            done += 1
    if state is not None and pending:
        with state.transaction() as db:
            MonitorState.put(db, PENDING, [])
    for stale in root.glob(f"*/*/*{SUFFIX}") if root.exists() else []:
        stale.unlink()  # written before a crash that came before the commit: never applied
    return done


def epoch(state: MonitorState) -> int:
    return int(state.get(EPOCH) or 0)
