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
* fixed per-type methods (normed Wasserstein distance for numbers, Jensen-Shannon distance for
  categories, threshold 0.1: Evidently's own defaults for large samples) so the page does not
  change method with the sample size; never TVD, g-test or MMD, which are slow or fragile.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from loan_default.errors import InputError
from loan_default.reference import MONITORED_FIELDS, PROBABILITY, is_categorical


class EvidentlyConfig(BaseModel):
    """How Evidently's page is computed."""

    model_config = ConfigDict(extra="forbid")

    reference_rows: int = Field(5_000, ge=100, description="Reference rows drawn for the page.")
    seed: int = Field(0, description="Seed of that draw.")
    num_method: str = Field("wasserstein", description="Evidently method for numeric columns.")
    cat_method: str = Field("jensenshannon", description="Evidently method for categories.")
    threshold: float = Field(0.1, gt=0, description="Distance from which a column drifts.")
    drift_share: float = Field(0.5, gt=0, le=1, description="Share of drifted columns for alarm.")


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
) -> dict[str, Any]:
    """Write Evidently's data-drift report of ``current`` against the reference as HTML.

    Args:
        reference_sample: ``ReferenceProfile.sample`` (monitored fields and ``probability``).
        current: the window's canonical rows, with ``probability`` when known.
        path: the HTML file to write; the report's results go next to it as ``<stem>.json``.
        config: sample size and methods; defaults as documented in :class:`EvidentlyConfig`.
        columns: only these columns (e.g. the drifted fields and ``probability``): the page's
            cost grows with its columns (a plot each); default: every monitored field.

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
    definition = data_definition(shared)
    report = Report(
        [
            DataDriftPreset(
                columns=shared,
                num_method=config.num_method,
                cat_method=config.cat_method,
                threshold=config.threshold,
                drift_share=config.drift_share,
            )
        ],
        include_tests=True,
    )
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
