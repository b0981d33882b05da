"""Data subject rights on the logs: find, export and erase one applicant, safely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loan_default.errors import ConfigError
from loan_default.security.records import add_data_key
from loan_default.traffic import (
    Checkpoint,
    FeedbackRecord,
    PredictionRecord,
    TrafficWriter,
    log_files,
    read_new,
)
from monitoring import logfiles
from monitoring.privacy import erase, find
from monitoring.state import MonitorState

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def prediction(n: int, applicant: str, client: str | None = None) -> dict[str, Any]:
    application: dict[str, Any] = {"application_id": applicant, "client_gender": "F",
                                   "client_income": 1000.0 + n}  # fmt: skip
    if client is not None:
        application["client_id"] = client
    return PredictionRecord(
        prediction_id=f"p{n:03d}", timestamp=T0, model_name="loan_default", model_version="v1",
        endpoint="predict", application=application, default_probability=0.1,
        risk_category="LOW",
    ).model_dump(mode="json")  # fmt: skip


def feedback(n: int) -> dict[str, Any]:
    return FeedbackRecord(prediction_id=f"p{n:03d}", observed_default=n % 2,
                          timestamp=T0).model_dump(mode="json")  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """Twelve predictions of four applicants over two writer files; outcomes for half; the
    sidecar's state holding all of them, its cursors at the end of each file."""
    traffic, state_db = tmp_path / "traffic", tmp_path / "monitoring" / "state.db"
    owners = ["A-1", "B-2", "A-1", "C-3", "B-2", "A-1", "D-4", "C-3", "B-2", "D-4", "A-1", "C-3"]
    writers = [TrafficWriter(traffic, "predictions"), TrafficWriter(traffic, "predictions")]
    writers[1]._name = "other-host-1.jsonl"
    for n, owner in enumerate(owners):
        writers[n % 2].write([prediction(n, owner, client="K-9" if n == 3 else None)])
    fb = TrafficWriter(traffic, "feedback")
    fb.write([feedback(n) for n in range(0, 12, 2)])
    for w in (*writers, fb):
        w.close()
    state = MonitorState(state_db)
    records = [PredictionRecord.model_validate(prediction(n, o)) for n, o in enumerate(owners)]
    with state.transaction() as db:
        MonitorState.add_predictions(db, "w1", records, ["client_gender"])
        _, end = read_new(traffic, "predictions", Checkpoint())
        MonitorState.save_checkpoint(db, "predictions", end)
    outcomes, end = read_new(traffic, "feedback", Checkpoint(), model=FeedbackRecord)
    state.add_feedback(outcomes, end)
    state.close()
    return {"traffic": traffic, "state": state_db, "owners": owners,
            "quarantine": tmp_path / "monitoring" / "quarantine.jsonl"}  # fmt: skip


def _find(w: dict[str, Any], who: str) -> Any:
    return find(w["traffic"], w["state"], w["quarantine"], who)


def test_export_finds_every_record_of_the_applicant(world: dict[str, Any]) -> None:
    found = _find(world, "A-1")
    assert found.prediction_ids == {"p000", "p002", "p005", "p010"}
    assert {r["prediction_id"] for r in found.feedback} == {"p000", "p002", "p010"}
    assert {r["prediction_id"] for r in found.state_predictions} == found.prediction_ids
    assert len(found.state_feedback) == 3
    assert found.export()["predictions"][0]["application"]["application_id"] == "A-1"
    assert _find(world, "K-9").prediction_ids == {"p003"}  # by client_id
    assert _find(world, "Z-0").total == 0


def test_erase_removes_only_the_applicant_and_keeps_the_sidecar_aligned(
    world: dict[str, Any],
) -> None:
    before = {k: len(_find(world, k).predictions) for k in ("B-2", "C-3", "D-4")}
    done = erase(world["traffic"], world["state"], world["quarantine"], "A-1")
    assert (done.predictions, done.feedback, done.state_rows) == (4, 3, 7)
    assert _find(world, "A-1").total == 0
    assert {k: len(_find(world, k).predictions) for k in before} == before
    state = MonitorState(world["state"])
    try:
        # The sidecar's cursors were at the end of each file: they still are, so nothing is
        # read twice or skipped; and the epoch moved, so a running sidecar re-reads.
        for kind in ("predictions", "feedback"):
            cursor = state.checkpoint(kind)
            for path in log_files(world["traffic"], kind):
                key = str(path.relative_to(world["traffic"]))
                assert cursor.offsets[key] == path.stat().st_size
        assert logfiles.epoch(state) == 1 and state.get(logfiles.PENDING) == []
        assert state.count("predictions") == 8 and state.count("feedback") == 3
    finally:
        state.close()


def test_offsets_in_the_middle_of_a_file_move_to_the_same_record(world: dict[str, Any]) -> None:
    path = log_files(world["traffic"], "predictions")[0]
    data = path.read_bytes().splitlines(keepends=True)
    key = str(path.relative_to(world["traffic"]))
    middle = sum(len(line) for line in data[:3])  # after the third record
    expected, _ = read_new(world["traffic"], "predictions", Checkpoint(offsets={key: middle}))
    state = MonitorState(world["state"])
    with state.transaction() as db:
        MonitorState.save_checkpoint(db, "predictions", Checkpoint(offsets={key: middle}))
    state.close()
    erase(world["traffic"], world["state"], world["quarantine"], "A-1")
    state = MonitorState(world["state"])
    moved = state.checkpoint("predictions")
    state.close()
    after, _ = read_new(world["traffic"], "predictions", moved)
    assert [r["prediction_id"] for r in after] == [
        r["prediction_id"] for r in expected if r["application"]["application_id"] != "A-1"
    ]


def test_a_writer_keeps_appending_to_the_replaced_file(world: dict[str, Any]) -> None:
    writer = TrafficWriter(world["traffic"], "predictions")
    writer.write([prediction(20, "E-5")])  # its file is open when the erasure replaces it
    erase(world["traffic"], world["state"], world["quarantine"], "E-5")
    writer.write([prediction(21, "F-6")])
    writer.close()
    assert _find(world, "F-6").prediction_ids == {"p021"}
    assert _find(world, "E-5").total == 0


def test_a_crash_after_the_commit_is_finished_by_recovery(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: Any) -> int:
        raise OSError("killed")

    monkeypatch.setattr(logfiles, "replace_lines", crash)
    with pytest.raises(OSError, match="killed"):
        erase(world["traffic"], world["state"], world["quarantine"], "A-1")
    monkeypatch.undo()
    state = MonitorState(world["state"])
    assert state.get(logfiles.PENDING)  # committed, files not yet renamed
    assert logfiles.recover(world["traffic"], state) == 3
    state.close()
    assert _find(world, "A-1").total == 0
    assert len(_find(world, "B-2").predictions) == 3


def test_a_crash_before_the_commit_changes_nothing(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: Any, **__: Any) -> None:
        raise OSError("killed")

    monkeypatch.setattr(MonitorState, "save_checkpoint", staticmethod(crash))
    with pytest.raises(OSError):
        erase(world["traffic"], world["state"], world["quarantine"], "A-1")
    monkeypatch.undo()
    assert list(world["traffic"].glob("*/*/*.rewrite"))  # left behind by the crash
    state = MonitorState(world["state"])
    assert logfiles.recover(world["traffic"], state) == 0
    state.close()
    assert not list(world["traffic"].glob("*/*/*.rewrite"))
    assert len(_find(world, "A-1").predictions) == 4


def test_encrypted_logs_need_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ring = tmp_path / "keys.json"
    add_data_key(ring)
    monkeypatch.setenv("LOAN_DATA_KEY_FILE", str(ring))
    from loan_default.security.records import configured_cipher

    writer = TrafficWriter(tmp_path / "t", "predictions", cipher=configured_cipher())
    writer.write([prediction(1, "A-1"), prediction(2, "B-2")])
    writer.close()
    state = tmp_path / "state.db"
    assert find(tmp_path / "t", None, None, "A-1").prediction_ids == {"p001"}
    assert erase(tmp_path / "t", state, None, "A-1").predictions == 1
    assert find(tmp_path / "t", None, None, "B-2").prediction_ids == {"p002"}
    monkeypatch.delenv("LOAN_DATA_KEY_FILE")
    with pytest.raises(ConfigError, match="LOAN_DATA_KEY_FILE is not set"):
        find(tmp_path / "t", None, None, "B-2")
