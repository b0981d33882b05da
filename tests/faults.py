"""Real faults for tests: a small tmpfs that fills up (a full disk, not a mocked ``write``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs_or_folder(path: Path, size: str = "256k") -> Iterator[str | None]:
    """Mount a tmpfs of ``size`` at ``path`` (created) for the block; yields None when mounted,
    else why it could not be (``path`` is then a plain folder).

    Mounting needs root, or password-less ``sudo`` (hosted CI runners have it).
    """
    path.mkdir(parents=True, exist_ok=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if shutil.which("mount") is None or (sudo and shutil.which("sudo") is None):
        yield "mounting a small tmpfs needs root or sudo"
        return
    done = subprocess.run(
        [*sudo, "mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        yield f"cannot mount a tmpfs here: {done.stderr.strip()}"
        return
    try:
        yield None
    finally:
        subprocess.run([*sudo, "umount", "-l", str(path)], check=False)


@contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the block; the test is skipped (not faked) where
    none can be mounted."""
    with tmpfs_or_folder(path, size) as problem:
        if problem is not None:
            pytest.skip(problem)
        yield path


def fill(folder: Path, name: str = "ballast") -> Path:
    """Fill the file system of ``folder`` with one file; delete it to free the space."""
    ballast = folder / name
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):  # big blocks, then the last crumbs
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return ballast
