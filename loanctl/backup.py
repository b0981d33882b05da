"""Backups of one platform home: create, verify, restore, prune.

A backup is a folder ``backup-<UTC time>`` holding the MLflow database dump (``mlflow/``), the
MLflow artifacts, the Bento model store, the sidecar's state, the traffic and feedback logs, the
audit log with its checkpoints and the scoring pause file, plus ``manifest.json`` listing every
file with its size and SHA-256. It is written as ``.backup-<time>.partial`` and renamed when the
manifest is complete, so a backup folder without a manifest never passes for a good one.

Consistency while the service runs: the database is snapshotted first (SQLite's online backup
API or ``pg_dump``), then the folders, whose files are only ever added (models, artifacts) or
appended (logs), so everything the snapshot references is copied too. SQLite files met in the
folders (the sidecar's ``state.db``) are snapshotted the same way; a log being appended is
copied up to the size it had when the copy began (the readers skip a partial last line).

Restore verifies every hash before it writes anything and refuses a corrupt, incomplete or
tampered backup; it fills an empty home (``--force`` moves what is there aside first).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loan_default.errors import InputError, NotFoundError
from loanctl import mlflow_db
from loanctl.locations import StateLocations

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "backup-"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    files: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    files: int
    seconds: float
    """Wall time from the first hash checked to the last file in place (the RTO's share)."""
    moved_aside: list[Path]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == _SQLITE_MAGIC


def _copy_prefix(source: Path, dest: Path) -> None:
    """Copy the bytes ``source`` has now (an appended log may grow meanwhile)."""
    size = source.stat().st_size
    with source.open("rb") as src, dest.open("wb") as out:
        remaining = size
        while remaining > 0 and (chunk := src.read(min(remaining, 1 << 20))):
            out.write(chunk)
            remaining -= len(chunk)


def _copy_folder(source: Path, dest: Path) -> None:
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(_SQLITE_SIDE_FILES):
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(path):
            mlflow_db.sqlite_snapshot(path, target)
        else:
            _copy_prefix(path, target)


def create(root: Path, locations: StateLocations, *, now: datetime | None = None) -> BackupResult:
    """Back up everything ``locations`` names into a new folder under ``root``."""
    start = time.perf_counter()
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    root.mkdir(parents=True, exist_ok=True)
    work = root / f".{PREFIX}{stamp}.partial"
    work.mkdir()
    try:
        (work / "mlflow").mkdir()
        dump = mlflow_db.dump(locations.mlflow_db, work / "mlflow")  # first: see module doc
        present = {}
        for name, folder in locations.folders().items():
            present[name] = folder.is_dir()
            if folder.is_dir():
                _copy_folder(folder, work / name)
        files: dict[str, dict[str, Any]] = {
            p.relative_to(work).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(work.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "mlflow": {
                "dump": f"mlflow/{dump}",
                "kind": "sqlite" if mlflow_db.is_sqlite(locations.mlflow_db) else "postgresql",
                "artifact_root": locations.mlflow_artifacts.as_posix(),
            },
            "components": present,
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
        final = root / f"{PREFIX}{stamp}"
        work.replace(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    total = sum(int(f["size"]) for f in files.values())
    return BackupResult(final, len(files), total, time.perf_counter() - start)


def find(path: Path) -> Path:
    """A backup folder: ``path`` itself, or the newest complete backup under it."""
    if (path / MANIFEST).is_file():
        return path
    candidates = sorted(p for p in path.glob(f"{PREFIX}*") if (p / MANIFEST).is_file())
    if not path.is_dir() or not candidates:
        raise NotFoundError(f"{path}: no backup here (a folder with {MANIFEST}, or backups in it)")
    return candidates[-1]


def verify(backup: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file against it.

    Raises:
        InputError: the manifest is missing or unreadable, a file is missing, altered or not
            listed (the message names up to five).
    """
    try:
        manifest: dict[str, Any] = json.loads((backup / MANIFEST).read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{backup}: not a usable backup, {MANIFEST} unreadable ({exc})") from None
    problems = []
    for name, entry in files.items():
        path = backup / name
        if not path.is_file():
            problems.append(f"{name} missing")
        elif path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            problems.append(f"{name} altered (hash differs)")
    listed = set(files) | {MANIFEST}
    problems += [
        f"{p.relative_to(backup).as_posix()} not in the manifest"
        for p in sorted(backup.rglob("*"))
        if p.is_file() and p.relative_to(backup).as_posix() not in listed
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if problems[5:] else ""
        )
        raise InputError(f"{backup}: corrupt backup, nothing restored: {shown}")
    return manifest


def _occupied(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def restore(backup: Path, locations: StateLocations, *, force: bool = False) -> RestoreResult:
    """Verify ``backup``, then put its state where ``locations`` say.

    Raises:
        InputError: a corrupt backup, or state already in place and ``force`` not given.
    """
    start = time.perf_counter()
    manifest = verify(backup)
    folders = locations.folders()
    occupied = [str(folders[n]) for n, ok in manifest["components"].items() if ok and
                _occupied(folders[n])]  # fmt: skip
    if not force and (occupied or not mlflow_db.is_empty(locations.mlflow_db)):
        where = ", ".join(occupied) or locations.mlflow_db
        raise InputError(f"the target already holds state ({where}): restore with --force")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for name, present in manifest["components"].items():
        if not present:
            continue
        dest = folders[name]
        staging = dest.with_name(dest.name + ".restoring")
        shutil.rmtree(staging, ignore_errors=True)
        if (backup / name).is_dir():
            shutil.copytree(backup / name, staging)
        else:  # the folder existed but was empty
            staging.mkdir(parents=True)
        if dest.exists():
            aside = dest.with_name(f"{dest.name}.replaced-{stamp}")
            dest.replace(aside)
            moved.append(aside)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.replace(dest)
    mlflow = manifest["mlflow"]
    mlflow_db.load(locations.mlflow_db, backup / mlflow["dump"], replace=force)
    old, new = Path(mlflow["artifact_root"]), locations.mlflow_artifacts
    for before, after in ((old.as_uri(), new.as_uri()), (old.as_posix(), new.as_posix())):
        mlflow_db.move_artifact_root(locations.mlflow_db, before, after)
    return RestoreResult(backup, len(manifest["files"]), time.perf_counter() - start, moved)


def prune(root: Path, *, keep_days: float = 30.0, now: datetime | None = None) -> list[Path]:
    """Delete backups older than ``keep_days`` (never the newest one); returns what went."""
    now = now or datetime.now(UTC)
    dated = []
    for path in root.glob(f"{PREFIX}*"):
        try:
            created = datetime.fromisoformat(
                json.loads((path / MANIFEST).read_text())["created_at"]
            )
        except (OSError, ValueError, KeyError):
            continue  # not a backup this tool wrote: leave it alone
        dated.append((created, path))
    dated.sort()
    cutoff = now - timedelta(days=keep_days)
    removed = [path for created, path in dated[:-1] if created < cutoff]
    for partial in root.glob(f".{PREFIX}*.partial"):  # a create that died mid-way
        if now - datetime.fromtimestamp(partial.stat().st_mtime, UTC) > timedelta(days=1):
            removed.append(partial)
    for path in removed:
        shutil.rmtree(path)
    return removed
