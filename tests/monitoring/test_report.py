"""Window reports: JSON + HTML page per window, the index page, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitoring.report import (
    REPORT_JSON,
    apply_retention,
    load_reports,
    write_index,
    write_window_report,
)
from monitoring.results import (
    FeatureDrift,
    GroupFairness,
    Labelled,
    Segment,
    TriggerEvent,
    WindowResult,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def result(seq: int, end: datetime, *, triggers: bool = False) -> WindowResult:
    window_id = f"w{seq:06d}-{end:%Y%m%dT%H%M%SZ}"
    seg = Segment(
        model_version="v1",
        records=1200,
        drift_score=0.1,
        drifted_features=["client_income"],
        features=[
            FeatureDrift(
                feature="client_income", psi=0.31, band="act", drifted=True, test="ks", p_value=1e-9
            ),
            FeatureDrift(
                feature="age_days", psi=0.02, band="stable", drifted=False, test="ks", p_value=0.4
            ),
        ],
        score_psi=0.12,
        score_band="watch",
        labelled=Labelled(n=800, positives=70, auc=0.81, gini=0.62, ks=0.5, brier=0.07),
        estimated_auc=0.79,
        fairness=[
            GroupFairness(
                attribute="client_gender",
                group="<female>",
                n=600,
                adverse_impact_ratio=0.7,
                flagged=True,
            ),
        ],
        quality_breach=True,
        quality_problems=["client_income missing in 40% of rows"],
        evidently_report="evidently-v1.html",
    )
    events = []
    if triggers:
        events = [TriggerEvent(trigger="drift", reason="4 drifted fields > 3", model_version="v1",
                               window_id=window_id, at=end)]  # fmt: skip
    return WindowResult(
        window_id=window_id,
        start=end - timedelta(hours=1),
        end=end,
        analysed_at=end,
        records=1200,
        closed_by="count",
        segments=[seg],
        triggers=events,
        paused="data-quality breach",
    )


def test_window_report_has_json_and_every_section(tmp_path: Path) -> None:
    r = result(1, T0, triggers=True)
    page = write_window_report(r, tmp_path, suppressed=["schedule: held back"])
    assert WindowResult.model_validate_json((page.parent / REPORT_JSON).read_text()) == r
    html = page.read_text()
    for text in ("Triggers", "drift: 4 drifted fields", "Held back by the cooldown",
                 "Scoring paused", "client_income", "0.310", "act", "Evidently",
                 'href="evidently-v1.html"', "0.810", "Fairness", "Data quality",
                 "missing in 40%"):  # fmt: skip
        assert text in html, text
    assert "&lt;female&gt;" in html and "<female>" not in html  # values are escaped
    # the most drifted field is listed first
    assert html.index("client_income</td>") < html.index("age_days</td>")


def test_index_lists_windows_newest_first(tmp_path: Path) -> None:
    for seq in (1, 2, 3):
        write_window_report(result(seq, T0 + timedelta(hours=seq), triggers=seq == 2), tmp_path)
    index = write_index(tmp_path).read_text()
    ids = [r.window_id for r in load_reports(tmp_path)]
    assert ids == sorted(ids, reverse=True)
    positions = [index.index(f'href="{i}/index.html"') for i in ids]
    assert positions == sorted(positions)
    assert "drift" in index


def test_retention_deletes_only_old_window_reports(tmp_path: Path) -> None:
    old = result(1, T0 - timedelta(days=40))
    new = result(2, T0 - timedelta(days=2))
    for r in (old, new):
        write_window_report(r, tmp_path)
    (tmp_path / "notes").mkdir()  # not a window report: left alone
    removed = apply_retention(tmp_path, days=30, now=T0)
    assert removed == [old.window_id]
    assert not (tmp_path / old.window_id).exists()
    assert (tmp_path / new.window_id / REPORT_JSON).exists()
    assert (tmp_path / "notes").exists()
