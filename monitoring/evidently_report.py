"""Evidently's data-drift page of a window, for people to look at.

The drift *decisions* are ``monitoring.drift``'s (quantile PSI frozen at training, KS and
chi-square with a multiple-testing correction): Evidently 0.7's PSI uses equal-width bins and
its preset takes 8-16 s on a 100k-row reference. Its HTML report is still the best page to
browse distributions column by column, so :func:`render_evidently` writes it with settings that
keep it to a second or two:

* the reference sample is cut to ``reference_rows`` (5,000) rows, drawn with a seed;
* the column types come from the canonical schema through an explicit ``DataDefinition``
  (numbers and integers numerical; categories and booleans categorical; the predicted
  ``probability`` numerical), so nothing is guessed from the data;
* **one verdict**: given the sidecar's :class:`Verdicts` of the window, every column's drift
  test on the page *is* the sidecar's decision (a registered Evidently stat test per column that
  answers with the sidecar's PSI and drifted flag, named after the sidecar's rule), and the
  page's dataset-level line follows the sidecar's window alarm (``min_drifted_features``), so
  nothing a user opens contradicts the window report. Without verdicts (a page on its own),
  fixed per-type methods are used (normed Wasserstein distance for numbers, Jensen-Shannon
  distance for categories, threshold 0.1: Evidently's own defaults for large samples); never
  TVD, g-test or MMD, which are slow or fragile.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from loan_default.errors import InputError
from loan_default.reference import MONITORED_FIELDS, PROBABILITY, is_categorical
from monitoring.drift import DriftConfig, DriftSummary

_STATTEST_PREFIX = "loan_sidecar__"
_current_verdicts: dict[str, tuple[float, bool]] = {}
_registered: set[str] = set()
_render_lock = threading.Lock()  # the stat tests read the verdicts of the page being rendered


class EvidentlyConfig(BaseModel):
    """How Evidently's page is computed."""

    model_config = ConfigDict(extra="forbid")

    reference_rows: int = Field(5_000, ge=100, description="Reference rows drawn for the page.")
    seed: int = Field(0, description="Seed of that draw.")
    num_method: str = Field("wasserstein", description="Evidently method for numeric columns.")
    cat_method: str = Field("jensenshannon", description="Evidently method for categories.")
    threshold: float = Field(0.1, gt=0, description="Distance from which a column drifts.")
    drift_share: float = Field(0.5, gt=0, le=1, description="Share of drifted columns for alarm.")


@dataclass(frozen=True)
class Verdicts:
    """The sidecar's decisions for one window, which Evidently's page must show unchanged."""

    columns: dict[str, tuple[float, bool]]
    """Per column (fields and ``probability``): (PSI, drifted)."""
    alarm: bool
    """The window's drift alarm (``DriftSummary.drift_detected``)."""
    rule: str
    """The rule in words, shown on the page as the test's name."""
    threshold: float
    """The PSI from which a column drifts whatever its p-value (shown beside each score)."""


def sidecar_verdicts(drift: DriftSummary, config: DriftConfig) -> Verdicts:
    """The verdicts of :func:`monitoring.drift.compute_drift` in the form the page needs.

    The score (``probability``) counts as drifted in the ``act`` band (PSI >= ``psi_act``), as
    in the sidecar's alarm.
    """
    columns = {f.name: (f.psi, f.drifted) for f in drift.features}
    columns[PROBABILITY] = (drift.score_psi, drift.score_psi >= config.psi_act)
    rule = (
        f"sidecar rule: PSI >= {config.psi_act:g}, or p < {drift.alpha_per_test:.2g} "
        f"(Bonferroni: {config.alpha:g} / {len(drift.features)} fields) with KS D or TVD >= "
        f"{config.min_effect:g}; score shown: PSI"
    )
    return Verdicts(
        columns=columns, alarm=drift.drift_detected, rule=rule, threshold=config.psi_act
    )


def _verdict(column: str) -> Any:
    def answer(reference: Any, current: Any, feature_type: Any, threshold: float) -> Any:
        return _current_verdicts[column]

    return answer


def _stattests(verdicts: Verdicts, columns: list[str], threshold: float) -> dict[str, str]:
    """Register (once per column) a stat test answering with the sidecar's verdict."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    names = {}
    for column in columns:
        name = f"{_STATTEST_PREFIX}{column}"
        if name not in _registered:
            test = StatTest(
                name=name,
                display_name=verdicts.rule,
                allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
                default_threshold=threshold,
            )
            register_stattest(test, default_impl=_verdict(column))
            _registered.add(name)
        names[column] = name
    return names


def _drift_share(verdicts: Verdicts, columns: list[str]) -> float:
    """Evidently's dataset-level share threshold that reproduces the sidecar's alarm."""
    if verdicts.alarm:  # an alarm means at least one drifted column (a field or the score)
        return 1 / len(columns)
    drifted = sum(verdicts.columns[c][1] for c in columns)
    return min((drifted + 1) / len(columns), 1.0)


def data_definition(columns: list[str]) -> Any:
    """Evidently's ``DataDefinition`` of the given canonical columns (and ``probability``)."""
    from evidently import DataDefinition

    known = {f.name: f for f in MONITORED_FIELDS}
    numerical = [
        c for c in columns if c == PROBABILITY or (c in known and not is_categorical(known[c]))
    ]
    categorical = [c for c in columns if c in known and is_categorical(known[c])]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


def render_evidently(
    reference_sample: pd.DataFrame,
    current: pd.DataFrame,
    path: Path,
    config: EvidentlyConfig | None = None,
    *,
    columns: list[str] | None = None,
    verdicts: Verdicts | None = None,
) -> dict[str, Any]:
    """Write Evidently's data-drift report of ``current`` against the reference as HTML.

    Args:
        reference_sample: ``ReferenceProfile.sample`` (monitored fields and ``probability``).
        current: the window's canonical rows, with ``probability`` when known.
        path: the HTML file to write; the report's results go next to it as ``<stem>.json``.
        config: sample size and methods; defaults as documented in :class:`EvidentlyConfig`.
        columns: only these columns (e.g. the drifted fields and ``probability``): the page's
            cost grows with its columns (a plot each); default: every monitored field.
        verdicts: the sidecar's decisions for this window: the page then shows them (one
            verdict); without, Evidently's own methods of ``config`` decide.

    Returns:
        Evidently's results (``Snapshot.dict()``: its metrics and per-column tests).

    Raises:
        InputError: the two frames share no monitored column, or ``current`` is empty.
    """
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    config = config or EvidentlyConfig()
    wanted = columns or [f.name for f in MONITORED_FIELDS] + [PROBABILITY]
    shared = [c for c in wanted if c in reference_sample.columns and c in current.columns]
    if not shared or current.empty:
        raise InputError("Evidently needs a non-empty window sharing columns with the reference")
    reference = reference_sample
    if len(reference) > config.reference_rows:
        reference = reference.sample(n=config.reference_rows, random_state=config.seed)
    if verdicts is not None:
        shared = [c for c in shared if c in verdicts.columns]
        if not shared:
            raise InputError("the sidecar's verdicts name none of the page's columns")
    definition = data_definition(shared)
    with _render_lock:
        if verdicts is None:
            preset = DataDriftPreset(
                columns=shared,
                num_method=config.num_method,
                cat_method=config.cat_method,
                threshold=config.threshold,
                drift_share=config.drift_share,
            )
        else:
            _current_verdicts.clear()
            _current_verdicts.update(verdicts.columns)
            preset = DataDriftPreset(
                columns=shared,
                per_column_method=dict(_stattests(verdicts, shared, verdicts.threshold)),
                drift_share=_drift_share(verdicts, shared),
            )
        report = Report([preset], include_tests=True)
        with warnings.catch_warnings():  # Evidently 0.7 trips pandas' downcasting FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            snapshot = report.run(
                Dataset.from_pandas(current[shared], data_definition=definition),
                Dataset.from_pandas(reference[shared], data_definition=definition),
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    results: dict[str, Any] = json.loads(snapshot.json())
    path.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return results


def drifted_columns(results: dict[str, Any]) -> list[str]:
    """Columns Evidently's tests failed (its per-column drift verdicts) in a results dict."""
    drifted = []
    for test in results.get("tests", []):
        column = test.get("metric_config", {}).get("params", {}).get("column")
        if column and test.get("status") == "FAIL":
            drifted.append(str(column))
    return drifted
