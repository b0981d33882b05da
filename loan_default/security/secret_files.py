"""Secret files: written readable by their owner only, created once by whichever process is
first, read with an error that names them (the signing and pseudonym keys, the record key
ring, the development keys)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from loan_default.errors import ConfigError


def _private_temp(path: Path, data: bytes) -> Path:
    """``data`` written and synced to a fresh 0600 file beside ``path`` (a name no one shares)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(name)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600, its folder 0700), atomically."""
    _private_temp(path, data).replace(path)


def create_private(path: Path, data: bytes) -> bool:
    """Create a secret file unless it exists; ``False`` when another writer got there first.

    Two processes starting together (the service's workers) must end up with *one* key: the
    file appears complete or not at all (a hard link of a synced temporary file), and the first
    writer wins, so no one replaces a key another process has already read.
    """
    tmp = _private_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def read_secret(path: Path, *, what: str) -> bytes:
    """A secret file's bytes (surrounding whitespace stripped); ``ConfigError`` naming it."""
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not data:
        raise ConfigError(f"{what}: {path} is empty")
    return data
