"""A stored window of any size: drift, quality and fairness of a scored Parquet data set.

``loanctl monitor run --data PATH [--cluster local|ADDRESS]`` analyses a data set of scored
applications (e.g. the output folder of ``loanctl predict``: canonical columns,
``default_probability``, ``risk_category`` and, once outcomes are known, ``default``) against
the scoring model's reference, as one window. Each partition (``loan_default.partitions``)
becomes a :class:`~monitoring.partials.WindowPartial`; the partials are merged pairwise (on the
workers, with a cluster) and finished once, so neither this process nor any worker ever holds
more than one partition of rows. The results equal ``compute_drift``/``compute_quality``/
``compute_fairness`` on the whole window in memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from loan_default.cluster import ClusterSettings, connect
from loan_default.decision import legacy_decisions
from loan_default.errors import InputError
from loan_default.partitions import DEFAULT_BATCH_ROWS, Fragment, fragments, read_fragment
from loan_default.portfolio import CATEGORY, DECISION, PROBABILITY
from loan_default.reference import ReferenceProfile
from loan_default.schema import LABEL
from monitoring.drift import DriftSummary
from monitoring.fairness import FairnessSummary
from monitoring.merged import finish_drift, finish_fairness, finish_quality
from monitoring.partials import WindowPartial, merge, partial_window
from monitoring.quality import QualitySummary
from monitoring.settings import MonitoringConfig


class DatasetWindow(BaseModel):
    """The statistics of one stored window, and how they were computed."""

    data: str
    model: str
    rows: int
    partitions: int
    where: str
    seconds: float
    drift: DriftSummary
    quality: QualitySummary
    fairness: FairnessSummary


def manifest_model(path: str | Path) -> str | None:
    """The Bento tag ``loanctl predict`` recorded in ``PATH/manifest.json``, if any."""
    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        return None
    tag = json.loads(manifest.read_text()).get("bento_tag")
    return str(tag) if tag else None


def partial_of(
    fragment: Fragment, reference: ReferenceProfile, config: MonitoringConfig
) -> WindowPartial:
    """The counts of one partition of scored applications (a task of the cluster path)."""
    frame = read_fragment(fragment)
    missing = [c for c in (PROBABILITY, CATEGORY) if c not in frame.columns]
    if missing:
        raise InputError(f"{fragment.path}: scored data needs the column(s) {missing}")
    if DECISION in frame.columns:
        decisions = frame[DECISION].to_numpy(dtype=object)
    else:  # scored before decisions existed: the decision its risk band implied
        decisions = legacy_decisions(frame[CATEGORY].to_numpy(dtype=object))
    y = None
    if LABEL in frame.columns and frame[LABEL].notna().all():
        y = frame[LABEL].to_numpy(dtype="float64")
    return partial_window(
        frame,
        frame[PROBABILITY].to_numpy(dtype="float64"),
        decisions,
        y,
        reference=reference,
        drift=config.drift,
        fairness=config.fairness,
    )


@dataclass
class _Reduced:
    partial: WindowPartial
    where: str


def _streamed(
    items: list[Fragment], reference: ReferenceProfile, config: MonitoringConfig
) -> _Reduced:
    total: WindowPartial | None = None
    for fragment in items:
        part = partial_of(fragment, reference, config)
        total = part if total is None else merge(total, part)
    assert total is not None
    return _Reduced(total, "streamed")


def _on_cluster(
    items: list[Fragment],
    reference: ReferenceProfile,
    config: MonitoringConfig,
    settings: ClusterSettings,
) -> _Reduced:
    with connect(settings) as client:
        shared = client.scatter(reference, broadcast=True)
        level = client.map(partial_of, items, [shared] * len(items), [config] * len(items),
                           pure=False)  # fmt: skip
        while len(level) > 1:  # pairwise on the workers: the client gets one partial
            pairs = [
                client.submit(merge, a, b, pure=False)
                for a, b in zip(level[::2], level[1::2], strict=False)
            ]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return _Reduced(level[0].result(), str(settings.cluster))


def analyse_dataset(
    data: str | Path,
    *,
    model: str,
    reference: ReferenceProfile,
    config: MonitoringConfig,
    cluster: ClusterSettings | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> DatasetWindow:
    """Drift, quality and fairness of a scored data set as one window (module docstring).

    Raises:
        InputError: unreadable data, or a partition without the score columns.
    """
    items = fragments(data, batch_rows=batch_rows)
    if not items:
        raise InputError(f"{data}: the data set has no rows")
    started = time.perf_counter()
    if cluster is None or cluster.cluster is None:
        reduced = _streamed(items, reference, config)
    else:
        reduced = _on_cluster(items, reference, config, cluster)
    partial = reduced.partial
    return DatasetWindow(
        data=str(data),
        model=model,
        rows=partial.rows,
        partitions=len(items),
        where=reduced.where,
        seconds=round(time.perf_counter() - started, 3),
        drift=finish_drift(partial, reference, config.drift),
        quality=finish_quality(partial, config.quality, reference=reference),
        fairness=finish_fairness(partial, config.fairness),
    )
