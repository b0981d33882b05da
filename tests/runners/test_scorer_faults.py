"""The scorer on a full disk (a real small tmpfs as its traffic folder): a prediction that
cannot be recorded is refused with ``RecordingError`` (HTTP 503), never answered; the log keeps
no partial line; once space returns, scoring resumes and every answer is in the log."""

from __future__ import annotations

from pathlib import Path

from loan_default.errors import RecordingError
from loan_default.traffic import BadLine, Checkpoint, read_new
from runners.loading import load_serving_model
from runners.scorer import Scorer
from runners.settings import ServingSettings
from tests.faults import fill, small_tmpfs
from tests.runners.tiny_model import build, payloads


def test_a_full_disk_refuses_predictions_and_loses_no_answer(tmp_path: Path) -> None:
    tag, _, frame = build(version="vfault-test")
    apps = payloads(frame.drop(columns=["default"]).iloc[:40])
    with small_tmpfs(tmp_path / "traffic", "1m") as traffic:
        settings = ServingSettings(
            model_tag=tag, home=tmp_path / "home", traffic_dir=traffic, pause_check_seconds=0
        )
        scorer = Scorer(load_serving_model(settings), settings)
        answered = [r["prediction_id"] for r in scorer.score(apps[:2], endpoint="predict")]
        ballast = fill(traffic)
        refused = 0
        for i in range(30):  # the WAL or the log: whichever needs space first fails
            try:
                batch = scorer.score(apps[i : i + 1 + i % 5], endpoint="predict_batch")
            except RecordingError as exc:
                refused += 1
                assert "could not be written" in str(exc)
                continue
            answered.extend(r["prediction_id"] for r in batch)
        assert refused > 0, "the disk never filled"
        ballast.unlink()
        (after,) = scorer.score(apps[:1], endpoint="predict")
        answered.append(after["prediction_id"])
        # Feedback for an answered id works again, too.
        assert scorer.feedback(after["prediction_id"], 1)["observed_default"] == 1
        scorer.close()
        bad: list[BadLine] = []
        records, _ = read_new(traffic, "predictions", Checkpoint(), on_bad=bad.append)
        assert bad == []
        logged = {r["prediction_id"] for r in records}
        assert set(answered) <= logged
