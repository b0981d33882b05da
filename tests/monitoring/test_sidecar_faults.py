"""The sidecar against bad logs: nothing stops it, nothing is lost unseen, a rerun continues.

Each case of issue 9 is here: repeated feedback for one prediction, a corrupt or partial line,
a record with a naive timestamp or a wrong type. Every unreadable line goes to the quarantine
file (with file, offset and reason) and the ``loan_monitor_bad_lines`` counter; everything
before and after it is processed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from loan_default.model import ScoringModel
from loan_default.traffic import PARTIAL_TAIL_SECONDS, log_files
from monitoring.metrics import SidecarMetrics
from monitoring.sidecar import Sidecar
from tests.monitoring.sidecar_world import (
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

VERSION = "vmon-faults"
ROWS = 300


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return register_model(VERSION)


def _run(home: Path) -> tuple[Sidecar, SidecarMetrics, list[Any]]:
    metrics = SidecarMetrics()
    car = Sidecar(
        sidecar_settings(home),
        sidecar_config(windows={"max_records": 1000, "max_seconds": 86_400, "min_records": 50}),
        metrics=metrics,
        evidently=False,
    )
    results = car.run_once()
    return car, metrics, results


def _append(path: Path, *lines: bytes) -> None:
    with path.open("ab") as fh:
        for line in lines:
            fh.write(line)


def _quarantined(home: Path) -> list[dict[str, Any]]:
    path = sidecar_settings(home).quarantine_path
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _bad(metrics: SidecarMetrics, kind: str) -> float:
    return metrics.registry.get_sample_value("loan_monitor_bad_lines_total", {"kind": kind}) or 0


def test_repeated_feedback_for_one_prediction_keeps_the_last(
    tmp_path: Path, model: ScoringModel
) -> None:
    traffic = sidecar_settings(tmp_path).traffic_path
    ids = write_traffic(traffic, model, VERSION, rows=ROWS, seed=21)
    (feedback,) = log_files(traffic, "feedback")
    first = orjson.loads(feedback.read_bytes().splitlines()[0])
    again = orjson.dumps({**first, "observed_default": 1 - first["observed_default"]}) + b"\n"
    _append(feedback, again, again)  # answered twice more, both after the original
    car, _, results = _run(tmp_path)
    assert car.state.count("feedback") == ROWS  # one outcome per prediction
    assert results and results[0].segments[0].labelled is not None
    assert results[0].segments[0].labelled.n == ROWS
    car.close()
    # A later run with yet another repetition neither crashes nor keeps two.
    flipped = {**first, "observed_default": first["observed_default"]}
    _append(feedback, orjson.dumps(flipped) + b"\n")
    car, _, _ = _run(tmp_path)
    assert car.state.count("feedback") == ROWS
    labels = car.state._db.execute(
        "SELECT observed_default FROM feedback WHERE prediction_id = ?", (ids[0],)
    ).fetchall()
    assert labels == [(first["observed_default"],)]  # the last one recorded
    car.close()


def test_a_corrupt_feedback_line_is_quarantined_and_the_rest_is_read(
    tmp_path: Path, model: ScoringModel
) -> None:
    traffic = sidecar_settings(tmp_path).traffic_path
    write_traffic(traffic, model, VERSION, rows=ROWS, seed=22)
    (feedback,) = log_files(traffic, "feedback")
    content = feedback.read_bytes().splitlines(keepends=True)
    middle = sum(len(line) for line in content[:100])
    broken = b'{"prediction_id": "x", "observed_def\n'
    feedback.write_bytes(b"".join(content[:100]) + broken + b"".join(content[100:]))
    car, metrics, _ = _run(tmp_path)
    assert car.state.count("feedback") == ROWS  # before and after the bad line
    (entry,) = _quarantined(tmp_path)
    assert entry["kind"] == "feedback" and entry["offset"] == middle
    assert entry["file"] == str(feedback.relative_to(traffic))
    assert entry["reason"].startswith("not JSON") and entry["line"] == broken.decode().strip()
    assert _bad(metrics, "feedback") == 1
    car.close()
    car, metrics, _ = _run(tmp_path)  # a rerun continues: nothing read twice, nothing new
    assert len(_quarantined(tmp_path)) == 1 and _bad(metrics, "feedback") == 0
    car.close()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"timestamp": "2026-11-02T10:15:00"}, "timezone"),  # naive
        ({"default_probability": "high"}, "default_probability"),
        ({"application": [1, 2]}, "application"),
        ({"timestamp": None}, "timestamp"),
    ],
)
def test_a_bad_prediction_record_is_quarantined_and_the_window_analysed(
    tmp_path: Path, model: ScoringModel, change: dict[str, Any], words: str
) -> None:
    traffic = sidecar_settings(tmp_path).traffic_path
    write_traffic(traffic, model, VERSION, rows=ROWS, seed=23)
    (predictions,) = log_files(traffic, "predictions")
    lines = predictions.read_bytes().splitlines(keepends=True)
    bad = orjson.dumps({**orjson.loads(lines[10]), **change}) + b"\n"
    predictions.write_bytes(b"".join(lines[:10]) + bad + b"".join(lines[10:]))
    car, metrics, results = _run(tmp_path)
    assert sum(r.records for r in results) == ROWS
    (entry,) = _quarantined(tmp_path)
    assert entry["kind"] == "predictions" and words in entry["reason"]
    assert entry["offset"] == sum(len(line) for line in lines[:10])
    assert _bad(metrics, "predictions") == 1
    car.close()
    write_traffic(traffic, model, VERSION, rows=ROWS, seed=24)  # a rerun continues
    car, metrics, results = _run(tmp_path)
    assert sum(r.records for r in results) == ROWS
    assert len(_quarantined(tmp_path)) == 1
    car.close()


def test_a_partial_last_line_is_quarantined_once_stale(tmp_path: Path, model: ScoringModel) -> None:
    traffic = sidecar_settings(tmp_path).traffic_path
    write_traffic(traffic, model, VERSION, rows=ROWS, seed=25)
    (predictions,) = log_files(traffic, "predictions")
    _append(predictions, b'{"prediction_id": "cut-off-by-a-full-di')
    car, _, results = _run(tmp_path)
    assert sum(r.records for r in results) == ROWS and not car.quarantine  # may be in progress
    car.close()
    old = predictions.stat().st_mtime - PARTIAL_TAIL_SECONDS - 1
    os.utime(predictions, (old, old))
    car, metrics, results = _run(tmp_path)
    (entry,) = _quarantined(tmp_path)
    assert entry["line"].startswith('{"prediction_id": "cut-off')
    assert _bad(metrics, "predictions") == 1
    car.close()
