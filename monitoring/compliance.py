"""The compliance report of a period (``loanctl report compliance --from DATE --to DATE``).

For fair-lending officers and the model risk team, in one HTML page and its Markdown twin:

* decisions in the period by risk category and by decision, from the traffic log;
* approval rates and adverse impact ratios (each group's approval rate over the most
  favoured group's; below 0.8 breaks the four-fifths rule) per protected attribute, computed
  **at the logged decision** (``decision == "approve"``); lines logged without a decision are
  counted and excluded, and the report says how many;
* drift and performance of the sidecar's windows ending in the period;
* model changes and approvals in the period (the audit trail's control events);
* the audit chain's verification result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from loan_default.traffic import lines, log_files, parse_line
from monitoring.fairness import AGE_BAND, FairnessConfig, age_bands
from monitoring.report import load_reports
from monitoring.results import WindowResult

CONTROL_EVENTS = ("model.", "governance.", "privacy.", "retention.", "scoring.", "retraining.")


@dataclass
class Compliance:
    """Everything the report shows."""

    start: datetime
    end: datetime
    decisions: int = 0
    without_decision: int = 0
    unreadable: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_decision: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    fairness: list[dict[str, Any]] = field(default_factory=list)
    windows: list[WindowResult] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    audit_ok: bool | None = None
    audit_summary: str = "not checked"
    air_threshold: float = 0.8


def read_decisions(traffic: Path, start: datetime, end: datetime) -> tuple[pd.DataFrame, int]:
    """Prediction lines timed in [start, end): a frame of decision, category, model and the
    application fields; and the count of lines that could not be read."""
    rows: list[dict[str, Any]] = []
    bad = 0
    for path in log_files(traffic, "predictions"):
        try:
            day = datetime.strptime(path.parent.name, "%Y-%m-%d").date()
        except ValueError:
            day = None
        if day is not None and not (start.date() <= day <= end.date()):
            continue  # files are per UTC day: skip whole days outside the period
        for _, _, raw in lines(path, 0):
            record, _ = parse_line(raw, None)
            if record is None:
                bad += 1
                continue
            try:
                when = datetime.fromisoformat(str(record["timestamp"]))
            except (KeyError, ValueError):
                bad += 1
                continue
            if when.tzinfo is None:  # breaks the log's contract: reported, not compared
                bad += 1
                continue
            if start <= when < end:
                rows.append({"decision": record.get("decision"),
                             "risk_category": record.get("risk_category"),
                             "model_version": record.get("model_version"),
                             **(record.get("application") or {})})  # fmt: skip
    return pd.DataFrame(rows), bad


def fairness_at_decision(frame: pd.DataFrame, config: FairnessConfig) -> list[dict[str, Any]]:
    """Per attribute and group: n, approval rate, adverse impact ratio vs the most favoured
    group, and whether it is flagged (groups under ``min_group_size`` are marked small)."""
    decided = frame[frame["decision"].notna()] if "decision" in frame else frame.iloc[0:0]
    out: list[dict[str, Any]] = []
    for attribute in config.attributes:
        if attribute == AGE_BAND:
            if "age_days" not in decided:
                continue
            groups = age_bands(decided["age_days"], config.age_band_edges)
        elif attribute in decided:
            groups = decided[attribute].astype("string").fillna("(missing)")
        else:
            continue
        approved = decided["decision"].eq("approve")
        stats = approved.groupby(groups, observed=True).agg(["size", "mean"])
        big = stats[stats["size"] >= config.min_group_size]
        best = float(big["mean"].max()) if len(big) else float("nan")
        for group, row in stats.iterrows():
            small = int(row["size"]) < config.min_group_size
            air = None if small or not best > 0 else float(row["mean"]) / best
            out.append({"attribute": attribute, "group": str(group), "n": int(row["size"]),
                        "approval_rate": float(row["mean"]), "adverse_impact_ratio": air,
                        "small": small,
                        "flagged": air is not None and air < config.air_threshold})  # fmt: skip
    return out


def build(
    *,
    traffic: Path,
    reports: Path,
    events: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    fairness: FairnessConfig,
    audit_ok: bool | None,
    audit_summary: str,
) -> Compliance:
    frame, bad = read_decisions(traffic, start, end)
    out = Compliance(start, end, unreadable=bad, audit_ok=audit_ok, audit_summary=audit_summary,
                     air_threshold=fairness.air_threshold)  # fmt: skip
    if len(frame):
        out.decisions = len(frame)
        out.without_decision = int(frame["decision"].isna().sum())
        out.by_category = Counter(frame["risk_category"].astype(str))
        out.by_decision = Counter(frame["decision"].fillna("not recorded").astype(str))
        out.by_model = Counter(frame["model_version"].astype(str))
        out.fairness = fairness_at_decision(frame, fairness)
    out.windows = [w for w in load_reports(reports) if start <= w.end < end]
    out.events = [e for e in events if str(e.get("event", "")).startswith(CONTROL_EVENTS)]
    return out
