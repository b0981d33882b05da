"""Reading the prediction log from a checkpoint and cutting it into windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from loan_default.traffic import Checkpoint, PredictionRecord
from monitoring.windows import LogTail, Positioned, Windower

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def record(i: int, at: datetime, version: str = "v1") -> dict:
    return PredictionRecord(
        prediction_id=f"p{i}",
        timestamp=at,
        model_name="loan_default",
        model_version=version,
        endpoint="predict",
        application={"client_income": 1000.0 + i},
        default_probability=0.1,
        risk_category="LOW",
    ).model_dump(mode="json")


def append(path: Path, records: list[dict], tail: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in records) + tail)


def ids(items: list[Positioned]) -> list[str]:
    return [p.record.prediction_id for p in items]


def test_tail_reads_complete_lines_only_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "predictions" / "2026-11-02" / "w1.jsonl"
    half = orjson.dumps(record(2, T0))
    append(log, [record(0, T0), record(1, T0)], tail=half[:20])
    tail = LogTail(tmp_path, Checkpoint())
    assert ids(tail.poll()) == ["p0", "p1"]
    assert tail.poll() == []
    with log.open("ab") as fh:  # the writer finishes its line
        fh.write(half[20:] + b"\n")
    assert ids(tail.poll()) == ["p2"]


def test_tail_merges_workers_by_time_keeping_each_files_order(tmp_path: Path) -> None:
    day = tmp_path / "predictions" / "2026-11-02"
    s = timedelta(seconds=1)
    # Worker a wrote one record out of time order: its file order must survive the merge.
    append(day / "a.jsonl", [record(0, T0), record(1, T0 + 5 * s), record(2, T0 + 2 * s)])
    append(day / "b.jsonl", [record(10, T0 + 1 * s), record(11, T0 + 3 * s)])
    merged = LogTail(tmp_path, Checkpoint()).poll()
    assert ids(merged) == ["p0", "p10", "p11", "p1", "p2"]


def test_tail_skips_an_unreadable_line(tmp_path: Path) -> None:
    log = tmp_path / "predictions" / "2026-11-02" / "w1.jsonl"
    append(log, [record(0, T0)], tail=b"{not json\n")
    append(log, [record(1, T0)])
    tail = LogTail(tmp_path, Checkpoint())
    assert ids(tail.poll()) == ["p0", "p1"]
    assert tail.bad_lines == 1


def windower(**kw: int | float) -> Windower:
    opts: dict = {"max_records": 4, "max_seconds": 60.0, "min_records": 2} | kw
    return Windower(Checkpoint(), **opts)


def positioned(n: int, step: timedelta = timedelta(seconds=1), file: str = "f") -> list[Positioned]:
    return [
        Positioned(file, 100 * (i + 1), PredictionRecord.model_validate(record(i, T0 + i * step)))
        for i in range(n)
    ]


def test_windows_close_by_count_and_the_rest_waits() -> None:
    w = windower()
    w.add(positioned(10))
    windows = w.ready()
    assert [len(x.records) for x in windows] == [4, 4]
    assert {x.closed_by for x in windows} == {"count"}
    assert windows[0].checkpoint.offsets == {"f": 400}
    assert windows[1].checkpoint.offsets == {"f": 800}
    assert w.pending == 2


def test_windows_close_by_record_time() -> None:
    w = windower(max_records=100)
    w.add(positioned(7, step=timedelta(seconds=25)))  # 0, 25, 50 | 75, 100, 125 | 150
    windows = w.ready()
    assert [len(x.records) for x in windows] == [3, 3]
    assert windows[0].closed_by == "time"
    assert windows[0].end - windows[0].start == timedelta(seconds=50)
    assert w.pending == 1


def test_a_small_window_keeps_collecting_past_its_time() -> None:
    w = windower(max_records=100, min_records=3)
    w.add(positioned(4, step=timedelta(minutes=2)))
    [window] = w.ready()  # 2 records span 2 min but are too few: cut at the 3rd
    assert len(window.records) == 3
    assert w.pending == 1


def test_windows_close_by_clock_and_flush() -> None:
    w = windower(max_records=100)
    w.add(positioned(3))
    assert w.ready(now=T0 + timedelta(seconds=30)) == []
    [by_clock] = w.ready(now=T0 + timedelta(minutes=5))
    assert (by_clock.closed_by, len(by_clock.records)) == ("time", 3)
    w.add(positioned(1))
    assert w.ready(flush=True) == []  # below min_records even when flushing
    w.add(positioned(2))
    [flushed] = w.ready(flush=True)
    assert (flushed.closed_by, len(flushed.records)) == ("flush", 3)


def test_window_checkpoint_resumes_exactly_after_its_records(tmp_path: Path) -> None:
    day = tmp_path / "predictions" / "2026-11-02"
    append(day / "a.jsonl", [record(i, T0 + timedelta(seconds=2 * i)) for i in range(5)])
    append(day / "b.jsonl", [record(10 + i, T0 + timedelta(seconds=2 * i + 1)) for i in range(5)])
    w = Windower(Checkpoint(), max_records=4, max_seconds=3600, min_records=1)
    w.add(LogTail(tmp_path, Checkpoint()).poll())
    first = w.ready()[0]
    rest = LogTail(tmp_path, first.checkpoint).poll()
    seen = [r.prediction_id for r in first.records] + ids(rest)
    assert sorted(seen) == sorted([f"p{i}" for i in range(5)] + [f"p{10 + i}" for i in range(5)])
    assert len(seen) == len(set(seen)) == 10


@pytest.mark.parametrize("bad", [{"min_records": 5, "max_records": 4}])
def test_window_config_rejects_min_above_max(bad: dict) -> None:
    from monitoring.settings import WindowConfig

    with pytest.raises(ValueError, match="min_records"):
        WindowConfig(**bad)
