"""Portfolio scoring, one partition at a time: map, validate, score, write.

:func:`score_partition` is the whole per-partition job of ``loanctl predict`` on a Parquet
data set (``loan_default.partitions``): the source mapping (identity for canonical files),
the row rules of ``loan_default.validation``, then the registered :class:`ScoringModel` (the
same ``FeatureEngineer`` and estimator as the service). It runs in this process (streamed) or
on a Dask worker, and writes its own output part, so no scored row passes through the client:

* ``OUT/part-NNNNN.parquet``: the partition's valid rows in input order, canonical columns
  (the application ID kept in every part), ``input_row`` (the row's position in the whole
  data set), ``default_probability`` and ``risk_category``;
* ``OUT/quarantine/part-NNNNN.parquet``: its rejected rows as read, with ``input_row``,
  ``stage`` (``import`` or ``validation``) and ``reasons`` (only when there are some).

Validation is per partition: duplicates are found within a partition, and freshness is not
judged (a portfolio is old loans by nature). Every input row is either scored or quarantined.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from loan_default.data.io import write_table
from loan_default.data.prepare import quarantine_frame
from loan_default.data.sources import SourceMapping, map_frame
from loan_default.data.validation import ValidationConfig, validate
from loan_default.decision import DecisionPolicy
from loan_default.model import RiskThresholds, ScoringModel
from loan_default.partitions import Fragment, read_fragment

PROBABILITY = "default_probability"
CATEGORY = "risk_category"
DECISION = "decision"
INPUT_ROW = "input_row"
QUARANTINE_DIR = "quarantine"


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """Everything a partition needs besides its rows (pickled once to each worker)."""

    model: ScoringModel
    thresholds: RiskThresholds
    policy: DecisionPolicy
    mapping: SourceMapping
    validation: ValidationConfig
    now: datetime
    """Reference time of the validation's future-date rule, the same for every partition."""
    out: str


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """What one partition produced (small: it travels back to the client)."""

    index: int
    rows_in: int
    scored: int
    quarantined: int
    by_rule: dict[str, int] = field(default_factory=dict)
    out: str = ""
    quarantine: str | None = None


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def score_frame(
    raw: pd.DataFrame, job: ScoringJob, *, first_row: int = 0, origin: str = "input"
) -> tuple[pd.DataFrame, pd.DataFrame, Counter[str]]:
    """Scored valid rows, rejected rows and failures per rule of one partition's rows."""
    raw = raw.reset_index(drop=True)
    imported = map_frame(raw, job.mapping, origin=origin)
    checked = validate(imported.data, job.validation, now=job.now, enforce=False)
    rejected = quarantine_frame(imported, checked.quarantine)
    rejected.insert(0, INPUT_ROW, rejected.pop("source_row").astype("int64") + first_row)
    by_rule = Counter(checked.report.by_rule)
    if len(imported.quarantine):
        by_rule["import"] += len(imported.quarantine)
    valid = checked.valid
    probabilities = job.model.predict_proba(valid)
    scored = valid.assign(
        **{
            PROBABILITY: probabilities,
            CATEGORY: job.thresholds.categories(probabilities),
            DECISION: job.policy.decisions(probabilities),
        }
    )
    scored.insert(0, INPUT_ROW, valid.index.to_numpy(dtype="int64") + first_row)
    return scored.reset_index(drop=True), rejected, by_rule


def score_partition(
    raw: pd.DataFrame, job: ScoringJob, *, index: int, first_row: int, origin: str = "input"
) -> PartitionResult:
    """Score one partition and write its output (and quarantine) part; see the module doc."""
    scored, rejected, by_rule = score_frame(raw, job, first_row=first_row, origin=origin)
    out = write_table(scored, Path(job.out) / part_name(index))
    quarantine = None
    if len(rejected):
        quarantine = str(write_table(rejected, Path(job.out) / QUARANTINE_DIR / part_name(index)))
    return PartitionResult(
        index=index,
        rows_in=len(raw),
        scored=len(scored),
        quarantined=len(rejected),
        by_rule=dict(by_rule),
        out=str(out),
        quarantine=quarantine,
    )


def score_fragment(fragment: Fragment, job: ScoringJob, first_row: int) -> PartitionResult:
    """Read one partition of the input and score it (a task of the cluster path)."""
    raw = read_fragment(fragment)
    origin = f"{fragment.path} (row group {fragment.row_group})"
    return score_partition(raw, job, index=fragment.index, first_row=first_row, origin=origin)


def first_rows(items: list[Fragment]) -> list[int]:
    """The input position of each partition's first row."""
    starts, total = [], 0
    for item in items:
        starts.append(total)
        total += item.rows
    return starts
