"""Window reports: ``<reports>/<window_id>/report.json`` + ``index.html``, and a browsable index.

Each window page holds the project's own sections (triggers fired, drift table with PSI bands
and the rule that decided it, pictures of the reference and window distributions of the drifted
fields and the score, labelled and estimated performance, fairness, data quality) and links
Evidently's page of the same window (``evidently-<version>.html``, written by
``monitoring.analysis``; it shows the same verdicts). The index lists the windows under a chart
of drift, score PSI, AUC and adverse impact ratios over time (``trends.svg``). Reports older
than the configured retention are deleted.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from monitoring.charts import trend_chart
from monitoring.results import Segment, WindowResult

REPORT_JSON = "report.json"
PAGE = "index.html"
TRENDS = "trends.svg"
_BAND_COLOURS = {"stable": "#e6f4ea", "watch": "#fef7e0", "act": "#fce8e6"}
_CSS = """body{font:14px system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left}th{background:#f3f3f3}.bad{color:#b3261e;font-weight:600}.muted{color:#777}
img{max-width:100%;margin:.25em .5em .25em 0;vertical-align:top}"""


def window_folder(reports: Path, window_id: str) -> Path:
    return reports / window_id


def write_window_report(
    result: WindowResult, reports: Path, *, suppressed: list[str] | None = None
) -> Path:
    """Write the JSON and the HTML page of one window; returns the page's path."""
    folder = window_folder(reports, result.window_id)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / REPORT_JSON, result.model_dump_json(indent=1))
    _atomic_write(folder / PAGE, _window_page(result, suppressed or []))
    return folder / PAGE


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(head: list[str], rows: list[list[str]], *, styles: list[str] | None = None) -> str:
    """An HTML table; cells are already-escaped HTML."""
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = [
        f'<tr style="{escape(styles[i]) if styles else ""}">'
        + "".join(f"<td>{c}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    ]
    return f"<table><tr>{cells}</tr>{''.join(body)}</table>"


def _segment_html(seg: Segment) -> str:
    v = escape(seg.model_version)
    trained = f" (trained {seg.model_created_at:%Y-%m-%d})" if seg.model_created_at else ""
    parts = [f"<h2>Model {v}{trained}: {seg.records} records</h2>"]
    if seg.evidently_report:
        href = escape(seg.evidently_report)
        parts.append(
            f'<p><a href="{href}">Evidently data drift page</a> (its distributions and plots; '
            "its drift verdicts are the ones below)</p>"
        )
    drifted = ", ".join(seg.drifted_features) or "none"
    parts.append(
        f"<h3>Drift</h3><p>Drift score {seg.drift_score:.2f} (share of fields drifted); "
        f"drifted: <b>{escape(drifted)}</b>. Score PSI {seg.score_psi:.3f} "
        f"({escape(seg.score_band)}). PSI bands: stable &lt; 0.1 &le; watch &lt; 0.25 &le; act.</p>"
    )
    parts.append(_rule_html(seg))
    if seg.charts:
        images = "".join(
            f'<img src="{escape(file)}" alt="reference vs window: {escape(name)}" width="512">'
            for name, file in seg.charts.items()
        )
        parts.append(
            "<h4>Reference (grey) vs this window (red), on the bins the PSI compares</h4>"
            f"<p>{images}</p>"
        )
    ordered = sorted(seg.features, key=lambda f: -f.psi)
    parts.append(
        _table(
            ["field", "PSI", "band", "test", "p-value", "effect", "drifted"],
            [
                [
                    escape(f.feature),
                    f"{f.psi:.3f}",
                    escape(f.band),
                    escape(f.test or ""),
                    _fmt(f.p_value, 4),
                    _fmt(f.effect),
                    '<span class="bad">yes</span>' if f.drifted else "no",
                ]
                for f in ordered
            ],
            styles=[f"background:{_BAND_COLOURS.get(f.band, '#fff')}" for f in ordered],
        )
    )
    parts.append("<h3>Performance</h3>")
    lab = seg.labelled
    if lab is not None and lab.auc is not None:
        parts.append(
            _table(
                ["outcomes", "defaults", "AUC", "Gini", "KS", "Brier", "training AUC"],
                [
                    [
                        str(lab.n),
                        str(lab.positives),
                        _fmt(lab.auc),
                        _fmt(lab.gini),
                        _fmt(lab.ks),
                        _fmt(lab.brier),
                        _fmt(lab.training_auc),
                    ]
                ],
            )
        )
    else:
        n = lab.n if lab else 0
        parts.append(f'<p class="muted">Labelled AUC: not enough outcomes yet ({n}).</p>')
    parts.append(
        f"<p>Estimated from the calibrated probabilities (no labels): AUC "
        f"{_fmt(seg.estimated_auc)}, default rate {_fmt(seg.estimated_default_rate)}.</p>"
    )
    parts.append("<h3>Fairness (adverse impact ratio, four-fifths rule)</h3>")
    if seg.fairness:
        parts.append(
            _table(
                ["attribute", "group", "n", "approval rate", "AIR", "flag"],
                [
                    [
                        escape(g.attribute),
                        escape(g.group),
                        str(g.n),
                        _fmt(g.approval_rate),
                        _fmt(g.adverse_impact_ratio),
                        '<span class="bad">&lt; 0.8</span>' if g.flagged else "ok",
                    ]
                    for g in seg.fairness
                ],
            )
        )
    else:
        parts.append('<p class="muted">No protected attribute in this window.</p>')
    parts.append("<h3>Data quality</h3>")
    if seg.quality_problems:
        label = '<span class="bad">breach</span>' if seg.quality_breach else "warnings"
        items = "".join(f"<li>{escape(p)}</li>" for p in seg.quality_problems)
        parts.append(f"<p>{label}</p><ul>{items}</ul>")
    else:
        parts.append("<p>No problem found.</p>")
    if (lookups := seg.lookups) is not None:
        parts.append("<h3>Feature store</h3>")
        counts = ", ".join(f"{escape(k)} {v}" for k, v in sorted(lookups.outcomes.items()))
        flag = '<span class="bad">flagged</span>: ' if lookups.flagged else ""
        parts.append(
            f"<p>{flag}{lookups.looked_up} applications looked up ({counts}): "
            f"{lookups.miss_share:.1%} missed, {lookups.failure_share:.1%} timed out or "
            "failed.</p>"
        )
    return "\n".join(parts)


def _rule_html(seg: Segment) -> str:
    """How a field was decided drifted, with this window's numbers (the p-value correction)."""
    rule = seg.details.get("drift_rule") or {}
    per_test = (seg.details.get("drift") or {}).get("alpha_per_test")
    if not rule or per_test is None:
        return ""
    tested = len(seg.features)
    return (
        f"<p>A field is <b>drifted</b> when its PSI is at least {rule['psi_act']:g}, or when "
        f"its test's p-value is below {per_test:.2g} <b>and</b> its effect (KS D for numbers, "
        f"total variation distance for categories) is at least {rule['min_effect']:g}. The "
        f"p-value bar is the Bonferroni correction for testing {tested} fields at once: "
        f"{rule['alpha']:g} / {tested} = {per_test:.2g}, so the chance of one false alarm in a "
        f"window stays under {rule['alpha']:g} (testing each field at {rule['alpha']:g} would "
        f"flag about {rule['alpha'] * tested:.1f} stable fields a window). A p-value such as "
        f"0.01 is therefore not a drift here; a large sample also makes tiny differences "
        f"significant, hence the effect floor. The window alarm needs "
        f"{rule['min_drifted_features']} drifted field(s) or a score PSI of at least "
        f"{rule['psi_act']:g}.</p>"
    )


def _window_page(result: WindowResult, suppressed: list[str]) -> str:
    title = f"Window {result.window_id}"
    head = (
        f"<p>{result.records} scored applications from {result.start:%Y-%m-%d %H:%M:%S} to "
        f"{result.end:%Y-%m-%d %H:%M:%S} UTC (closed by {escape(result.closed_by)}), analysed "
        f'{result.analysed_at:%Y-%m-%d %H:%M:%S} UTC. <a href="../{PAGE}">All windows</a> · '
        f'<a href="{REPORT_JSON}">JSON</a></p>'
    )
    trig = ["<h2>Triggers</h2>"]
    if result.triggers:
        trig.append(
            "<ul>"
            + "".join(
                f'<li class="bad">{escape(t.trigger)}: {escape(t.reason)} (model '
                f"{escape(t.model_version)}) &rarr; retraining requested</li>"
                for t in result.triggers
            )
            + "</ul>"
        )
    else:
        trig.append("<p>None fired.</p>")
    if suppressed:
        items = "".join(f"<li>{escape(s)}</li>" for s in suppressed)
        trig.append(f'<p class="muted">Held back by the cooldown:</p><ul>{items}</ul>')
    if result.paused:
        trig.append(f'<p class="bad">Scoring paused: {escape(result.paused)}</p>')
    notes = [
        f"<li>{n} records of {escape(tag)} not analysed</li>" for tag, n in result.skipped.items()
    ]
    notes += [f"<li>{escape(err)}</li>" for err in result.errors]
    body = [head, *trig]
    if notes:
        body.append(f"<ul>{''.join(notes)}</ul>")
    body += [_segment_html(seg) for seg in result.segments]
    return _html(title, "\n".join(body))


def _html(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_CSS}</style></head><body><h1>{escape(title)}</h1>\n{body}\n"
        "</body></html>\n"
    )


def load_reports(reports: Path) -> list[WindowResult]:
    """Every window report, newest first."""
    out = [
        WindowResult.model_validate_json(p.read_bytes()) for p in reports.glob(f"*/{REPORT_JSON}")
    ]
    return sorted(out, key=lambda r: r.window_id, reverse=True)


def latest_report(reports: Path) -> WindowResult | None:
    """The most recent window's report, if any (window ids sort by sequence)."""
    paths = sorted(reports.glob(f"*/{REPORT_JSON}"), key=lambda p: p.parent.name)
    return WindowResult.model_validate_json(paths[-1].read_bytes()) if paths else None


def write_index(reports: Path, *, auc_floor: float | None = None) -> Path:
    """The index page: a chart of the windows over time, then every kept window, newest first.

    Args:
        auc_floor: the AUC retraining trigger, drawn on the chart.
    """
    rows: list[list[str]] = []
    results = load_reports(reports)
    for r in results:
        seg = max(r.segments, key=lambda s: s.records, default=None)
        auc = seg.labelled.auc if seg and seg.labelled else None
        link = f'<a href="{escape(r.window_id)}/{PAGE}">{escape(r.window_id)}</a>'
        triggers = ", ".join(t.trigger for t in r.triggers)
        rows.append(
            [link, f"{r.start:%Y-%m-%d %H:%M}", f"{r.end:%Y-%m-%d %H:%M}", str(r.records),
             escape(", ".join(s.model_version for s in r.segments)),
             _fmt(seg.drift_score if seg else None, 2),
             escape(", ".join(seg.drifted_features) if seg else ""),
             _fmt(seg.score_psi if seg else None), _fmt(auc),
             f'<span class="bad">{escape(triggers)}</span>' if triggers else "",
             '<span class="bad">paused</span>' if r.paused else ""]
        )  # fmt: skip
    head = ["window", "from", "to", "records", "model", "drift score", "drifted fields",
            "score PSI", "labelled AUC", "triggers", "scoring"]  # fmt: skip
    body = _table(head, rows) if rows else "<p>No window analysed yet.</p>"
    reports.mkdir(parents=True, exist_ok=True)
    if results:
        trend_chart(results, reports / TRENDS, auc_floor=auc_floor, drifted_alarm=None)
        body = (
            f'<p><img src="{TRENDS}" alt="drift score, score PSI, AUC and adverse impact '
            f'ratios per window" width="600"></p>{body}'
        )
    _atomic_write(reports / PAGE, _html("Loan default monitoring: windows", body))
    return reports / PAGE


def apply_retention(
    reports: Path, *, days: float, now: datetime, dry_run: bool = False
) -> list[str]:
    """Delete window reports whose window ended more than ``days`` ago; returns their ids
    (with ``dry_run``: the ids that would go, nothing deleted)."""
    cutoff = now - timedelta(days=days)
    removed: list[str] = []
    for folder in sorted(p for p in reports.glob("*") if p.is_dir()):
        path = folder / REPORT_JSON
        try:
            ended = WindowResult.model_validate_json(path.read_bytes()).end
        except (OSError, ValueError):
            continue  # not a window report: not ours to delete
        if ended < cutoff:
            if not dry_run:
                shutil.rmtree(folder)
            removed.append(folder.name)
    if removed and not dry_run:
        write_index(reports)
    return removed
