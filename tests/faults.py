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
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (created) for the block.

    Mounting needs root, or password-less ``sudo`` (hosted CI runners have it); where neither
    is available the test is skipped rather than faked.
    """
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if shutil.which("mount") is None or (sudo and shutil.which("sudo") is None):
        pytest.skip("mounting a small tmpfs needs root or sudo")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*sudo, "mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run([*sudo, "umount", "-l", str(path)], check=False)


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
