"""One drift verdict: Evidently's page of a window shows the sidecar's decisions, and the window
report shows its pictures and explains the p-value correction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loan_default.model import ScoringModel
from loan_default.reference import PROBABILITY
from monitoring.evidently_report import drifted_columns
from monitoring.metrics import SidecarMetrics
from monitoring.sidecar import Sidecar
from tests.monitoring.sidecar_world import (
    BIG_SHIFT,
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

VERSION = "vverdict"


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return register_model(VERSION)


def _dataset_alarm(results: dict) -> bool:
    """Evidently's dataset-level verdict: its drifted-columns share test failed."""
    statuses = [
        t["status"]
        for t in results["tests"]
        if "column" not in t.get("metric_config", {}).get("params", {})
    ]
    assert statuses, "no dataset-level test on the page"
    return "FAIL" in statuses


@pytest.mark.slow
def test_evidently_and_the_report_agree_on_a_drifted_and_a_stable_window(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path)
    config = sidecar_config(triggers={"auc_below": None})  # pages: drifted fields + score
    car = Sidecar(settings, config, trainer=None, metrics=SidecarMetrics(), evidently=True)
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=11)
    [stable] = car.run_once()
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=12, shift=BIG_SHIFT)
    [drifted] = car.run_once()
    car.close()

    for result, alarm in ((stable, False), (drifted, True)):
        [seg] = result.segments
        drift = seg.details["drift"]
        assert drift["drift_detected"] is alarm
        folder = settings.reports_path / result.window_id
        page = folder / f"evidently-{VERSION}.html"
        evidently = json.loads(page.with_suffix(".json").read_text())
        score_drifted = drift["score_psi"] >= config.drift.psi_act
        expected = set(seg.drifted_features) | ({PROBABILITY} if score_drifted else set())
        assert set(drifted_columns(evidently)) == expected
        assert _dataset_alarm(evidently) is alarm
        html = page.read_text()
        assert "sidecar rule: PSI &gt;= 0.25" in html or "sidecar rule: PSI >= 0.25" in html

        report = (folder / "index.html").read_text()
        assert "Bonferroni" in report and f"0.05 / {len(seg.features)}" in report
        assert PROBABILITY in seg.charts  # the score is always pictured
        assert set(seg.charts) == {*seg.drifted_features, PROBABILITY}
        for file in seg.charts.values():
            svg = (folder / file).read_text()
            assert svg.lstrip().startswith("<?xml") and "<svg" in svg
            assert f'src="{file}"' in report
    assert set(BIG_SHIFT.features) <= set(drifted.segments[0].drifted_features)

    index = (settings.reports_path / "index.html").read_text()
    trends = settings.reports_path / "trends.svg"
    assert 'src="trends.svg"' in index and "<svg" in trends.read_text()
