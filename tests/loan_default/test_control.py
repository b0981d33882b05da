"""The scoring pause switch: idempotent pause and resume, visible to every reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loan_default import control
from loan_default.errors import PauseFileError


def test_pause_resume_and_status(tmp_path: Path) -> None:
    assert control.status(tmp_path) is None
    assert control.resume(tmp_path) is False
    state = control.pause(tmp_path, "score_source_2 missing in 40% of rows", by="monitoring")
    assert state.reason == "score_source_2 missing in 40% of rows" and state.by == "monitoring"
    assert control.pause_path(tmp_path) == tmp_path / "control" / "pause.json"
    assert control.status(tmp_path) == state


def test_pausing_twice_keeps_the_first_reason(tmp_path: Path) -> None:
    first = control.pause(tmp_path, "quality breach")
    second = control.pause(tmp_path, "operator", by="alice")
    assert second == first == control.status(tmp_path)
    assert not list((tmp_path / "control").glob("*.tmp"))


def test_resume_is_idempotent(tmp_path: Path) -> None:
    control.pause(tmp_path, "quality breach")
    assert control.resume(tmp_path) is True
    assert control.status(tmp_path) is None
    assert control.resume(tmp_path) is False
    again = control.pause(tmp_path, "a new incident")
    assert control.status(tmp_path) == again and again.reason == "a new incident"


@pytest.mark.parametrize("content", [b'{"reason": "quality br', b"", b"[]", b"\xff\xfe"])
def test_an_unreadable_pause_file_refuses_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = control.pause_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(PauseFileError, match=r"pause file .*pause\.json is unreadable") as caught:
        control.status(tmp_path)
    assert caught.value.status_code == 503 and caught.value.exit_code == 2
    assert "quality br" not in str(caught.value)  # the file's content is not echoed
    replaced = control.pause(tmp_path, "operator fixed the file")
    assert control.status(tmp_path) == replaced
    assert control.resume(tmp_path) is True and control.status(tmp_path) is None


def test_a_pause_path_that_is_a_folder_is_unreadable_too(tmp_path: Path) -> None:
    control.pause_path(tmp_path).mkdir(parents=True)
    with pytest.raises(PauseFileError, match="unreadable"):
        control.status(tmp_path)


def test_loanctl_service_status_prints_one_error_line(tmp_path: Path) -> None:
    path = control.pause_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"reason": "trunc')
    loanctl = Path(sys.executable).with_name("loanctl")
    done = subprocess.run(
        [str(loanctl), "service", "status"],
        env=os.environ | {"LOAN_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: the pause file ") and "unreadable" in line
