"""The scoring pause switch: idempotent pause and resume, visible to every reader."""

from __future__ import annotations

from pathlib import Path

from loan_default import control


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
