"""The traffic log: whole lines in, complete lines out, checkpoints that neither skip nor repeat."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from loan_default import traffic
from loan_default.errors import RecordingError
from loan_default.traffic import (
    BadLine,
    Checkpoint,
    FeedbackRecord,
    PredictionRecord,
    TrafficWriter,
    json_lines,
    log_files,
    read_new,
)
from tests.faults import small_tmpfs


def _prediction(i: int) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p-{i}",
        timestamp=datetime(2026, 11, 2, 10, 0, i % 60, tzinfo=UTC),
        model_name="loan_default",
        model_version="v1",
        endpoint="predict",
        application={"client_income": 1000.0 + i, "client_gender": None},
        default_probability=0.1,
        risk_category="LOW",
    )


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["prediction_id"] for r in records]


def test_writer_and_reader_round_trip(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, "predictions")
    written = [_prediction(i) for i in range(3)]
    assert writer.write(written) > 0
    assert writer.write([]) == 0
    writer.close()
    records, checkpoint = read_new(tmp_path, "predictions", Checkpoint())
    assert [PredictionRecord.model_validate(r) for r in records] == written
    (path,) = log_files(tmp_path, "predictions")
    assert checkpoint.offsets == {str(path.relative_to(tmp_path)): path.stat().st_size}
    assert read_new(tmp_path, "predictions", checkpoint)[0] == []
    assert read_new(tmp_path, "feedback", Checkpoint()) == ([], Checkpoint())


def test_plain_dicts_and_feedback_records(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, "feedback", fsync=True)
    feedback = FeedbackRecord(prediction_id="p-1", observed_default=1, timestamp=traffic.utcnow())
    writer.write([feedback, {"prediction_id": "p-2", "observed_default": 0}])
    records, _ = read_new(tmp_path, "feedback", Checkpoint())
    assert _ids(records) == ["p-1", "p-2"]
    with pytest.raises(ValidationError, match="observed_default"):
        FeedbackRecord(prediction_id="p", observed_default=2, timestamp=traffic.utcnow())


def test_a_partial_last_line_waits_until_complete(tmp_path: Path) -> None:
    TrafficWriter(tmp_path, "predictions").write([_prediction(0)])
    (path,) = log_files(tmp_path, "predictions")
    line = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(line[:25])  # a writer caught mid-line
    first, checkpoint = read_new(tmp_path, "predictions", Checkpoint())
    assert _ids(first) == ["p-0"]
    assert next(iter(checkpoint.offsets.values())) == len(line)
    assert read_new(tmp_path, "predictions", checkpoint)[0] == []
    with path.open("ab") as fh:
        fh.write(line[25:])
    second, _ = read_new(tmp_path, "predictions", checkpoint)
    assert _ids(second) == ["p-0"] and second == first


def test_a_restarted_reader_neither_skips_nor_repeats(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, "predictions")
    writer.write([_prediction(i) for i in range(5)])
    saved = tmp_path / "state" / "checkpoint.json"
    seen: list[str] = []
    records, checkpoint = read_new(tmp_path, "predictions", Checkpoint.load(saved), max_records=3)
    seen += _ids(records)
    checkpoint.save(saved)
    writer.write([_prediction(i) for i in range(5, 8)])
    # A new reader process: only the saved file carries the position over.
    for _ in range(3):
        records, checkpoint = read_new(
            tmp_path, "predictions", Checkpoint.load(saved), max_records=2
        )
        seen += _ids(records)
        checkpoint.save(saved)
    assert seen == [f"p-{i}" for i in range(8)]
    assert not saved.with_suffix(".json.tmp").exists()


def test_the_input_checkpoint_is_not_modified(tmp_path: Path) -> None:
    TrafficWriter(tmp_path, "predictions").write([_prediction(0)])
    before = Checkpoint()
    read_new(tmp_path, "predictions", before)
    assert before.offsets == {}
    assert Checkpoint.load(tmp_path / "absent.json") == Checkpoint()


def test_several_writer_files_and_days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = TrafficWriter(tmp_path, "predictions")
    monkeypatch.setattr(traffic.os, "getpid", lambda: 999_999)
    second = TrafficWriter(tmp_path, "predictions")
    first.write([_prediction(0)])
    second.write([_prediction(1), _prediction(2)])
    monkeypatch.setattr(traffic, "utcnow", lambda: datetime(2099, 1, 1, tzinfo=UTC))
    first.write([_prediction(3)])  # the next day goes to a new folder
    files = log_files(tmp_path, "predictions")
    assert len(files) == 3 and files[-1].parent.name == "2099-01-01"
    records, checkpoint = read_new(tmp_path, "predictions", Checkpoint())
    assert sorted(_ids(records)) == ["p-0", "p-1", "p-2", "p-3"]
    assert _ids(records)[-1] == "p-3"  # oldest day first
    assert len(checkpoint.offsets) == 3


def test_max_records_spans_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    TrafficWriter(tmp_path, "predictions").write([_prediction(i) for i in range(3)])
    monkeypatch.setattr(traffic.os, "getpid", lambda: 999_999)
    TrafficWriter(tmp_path, "predictions").write([_prediction(i) for i in range(3, 6)])
    checkpoint = Checkpoint()
    batches = []
    while True:
        records, checkpoint = read_new(tmp_path, "predictions", checkpoint, max_records=4)
        if not records:
            break
        assert len(records) <= 4
        batches.append(_ids(records))
    assert [len(b) for b in batches] == [4, 2]
    assert sorted(i for batch in batches for i in batch) == [f"p-{i}" for i in range(6)]


def test_json_lines_is_one_line_per_record_whatever_the_strings_hold() -> None:
    records: list[dict[str, Any]] = [
        {"id": "a},{\n,\n", "nested": [1, {"x": "],[,"}], "none": None},
        {},
        {"text": "line one\nline two\r\n\t", "unicode": "é€😀", "float": 0.1},
    ]
    payload = json_lines(records)
    assert payload.count(b"\n") == len(records) and payload.endswith(b"\n")
    assert [orjson.loads(line) for line in payload.splitlines()] == records
    assert json_lines([]) == b""
    assert json_lines([{"a": 1}]) == b'{"a":1}\n'


def test_a_write_that_fills_the_disk_leaves_no_partial_line(tmp_path: Path) -> None:
    """A real full disk (a 64 KiB tmpfs): failed writes are undone; after space returns, every
    record whose write returned is readable, and nothing else is in the log."""
    with small_tmpfs(tmp_path / "mnt", "64k") as root:
        writer = TrafficWriter(root, "predictions")
        writer.write([_prediction(0)])  # the folders exist before the disk is full
        ballast = root / "ballast"
        ballast.write_bytes(b"\0" * 16384)  # space to free once the log has filled the rest
        written: list[str] = []
        failures = 0
        for i in range(1, 400):
            batch = [_prediction(i)] * (1 + i % 7)  # sizes vary: some writes stop midway
            try:
                writer.write(batch)
            except RecordingError as exc:
                failures += 1
                assert "nothing was recorded" in str(exc)
                assert isinstance(exc.__cause__, OSError)
                continue
            written.extend(r.prediction_id for r in batch)
        assert failures > 0, "the disk never filled"
        (path,) = log_files(root, "predictions")
        assert path.read_bytes().endswith(b"\n")
        ballast.unlink()
        writer.write([_prediction(999)])  # once space returns, writes succeed again
        bad: list[BadLine] = []
        records, _ = read_new(root, "predictions", Checkpoint(), on_bad=bad.append)
        assert bad == []
        assert _ids(records) == ["p-0", *written, "p-999"]
        writer.close()


def test_a_partial_line_left_behind_cannot_swallow_the_next_record(tmp_path: Path) -> None:
    """A file ending inside a line (a truncation that failed, a crash) gets a newline before
    the next record: the reader reports the fragment and reads the record."""
    writer = TrafficWriter(tmp_path, "predictions")
    writer.write([_prediction(0)])
    (path,) = log_files(tmp_path, "predictions")
    writer.close()
    with path.open("ab") as fh:
        fh.write(path.read_bytes()[:40])
    reopened = TrafficWriter(tmp_path, "predictions")  # same process: the same file
    reopened.write([_prediction(1)])
    bad: list[BadLine] = []
    records, checkpoint = read_new(tmp_path, "predictions", Checkpoint(), on_bad=bad.append)
    assert _ids(records) == ["p-0", "p-1"]
    (fragment,) = bad
    assert fragment.file == str(path.relative_to(tmp_path))
    assert fragment.offset == len(orjson.dumps(_prediction(0).model_dump(mode="json"))) + 1
    assert fragment.reason.startswith("not JSON")
    assert checkpoint.offsets[fragment.file] == path.stat().st_size


def test_corrupt_lines_are_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, "feedback")
    good = {"prediction_id": "p-1", "observed_default": 1, "timestamp": "2026-11-02T10:00:00Z"}
    writer.write([good])
    (path,) = log_files(tmp_path, "feedback")
    with path.open("ab") as fh:
        fh.write(b'{"prediction_id": "p-2", "observed_def\n')  # corrupt
        fh.write(b'{"prediction_id": "p-3", "observed_default": 1, "timestamp": "2026-11-02"}\n')
        fh.write(b'{"prediction_id": "p-4", "observed_default": "1", "timestamp": "x"}\n')
        fh.write(b"[1, 2]\n")
    writer.write([{**good, "prediction_id": "p-5"}])
    bad: list[BadLine] = []
    records, _ = read_new(
        tmp_path, "feedback", Checkpoint(), model=FeedbackRecord, on_bad=bad.append
    )
    assert [r.prediction_id for r in records] == ["p-1", "p-5"]
    reasons = [b.reason for b in bad]
    assert reasons[0].startswith("not JSON")
    assert "timestamp" in reasons[1] and "timezone" in reasons[1]  # a naive timestamp
    assert "observed_default" in reasons[2]
    assert len(bad) == 4 and [b.offset for b in bad] == sorted(b.offset for b in bad)


def test_a_stale_partial_tail_is_reported_and_skipped(tmp_path: Path) -> None:
    TrafficWriter(tmp_path, "predictions").write([_prediction(0)])
    (path,) = log_files(tmp_path, "predictions")
    with path.open("ab") as fh:
        fh.write(b'{"prediction_id": "p-cut')
    bad: list[BadLine] = []
    fresh, checkpoint = read_new(tmp_path, "predictions", Checkpoint(), on_bad=bad.append)
    assert _ids(fresh) == ["p-0"] and bad == []  # may still be being written
    old = path.stat().st_mtime - traffic.PARTIAL_TAIL_SECONDS - 1
    os.utime(path, (old, old))
    later, after = read_new(tmp_path, "predictions", checkpoint, on_bad=bad.append)
    assert later == [] and [b.line for b in bad] == [b'{"prediction_id": "p-cut']
    assert after.offsets[bad[0].file] == path.stat().st_size
