"""``loanctl predict`` on a Parquet portfolio: streamed in one process, or on a Dask cluster.

Both paths score the same partitions (``loan_default.partitions.fragments``) with the same
per-partition job (``loan_default.portfolio.score_partition``), so their outputs are identical;
only where the work runs differs:

* **streamed** (no ``--cluster``): one partition in memory at a time, LightGBM on every core;
* **cluster**: one Dask task per partition, the job (model included) pickled once to every
  worker (``Client.scatter``), each worker reading its partitions and writing its output parts
  itself (the workers must see the input and output paths: a shared volume on Kubernetes).

``OUT/manifest.json`` is written last, with the counts, the model and the parts: a folder
without it is an interrupted run (run it again; parts are overwritten).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loan_default.cluster import ClusterSettings, connect
from loan_default.data.mappings import canonical_mapping, load_mapping
from loan_default.data.validation import ValidationConfig
from loan_default.errors import DataValidationError, InputError
from loan_default.partitions import DEFAULT_BATCH_ROWS, Fragment, fragments, iter_partitions
from loan_default.portfolio import (
    PartitionResult,
    ScoringJob,
    first_rows,
    score_fragment,
    score_partition,
)
from loan_default.store import LoadedModel
from training.predict import load_registered
from training.progress import Progress

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PortfolioResult:
    """What ``loanctl predict`` did to a portfolio."""

    out: Path
    rows_in: int
    scored: int
    quarantined: int
    partitions: int
    bento_tag: str
    seconds: float
    where: str
    """``streamed`` or the cluster's address (``local``)."""
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0


def _prepare_out(out: Path) -> None:
    if out.name.endswith((".csv", ".csv.gz")):
        raise InputError(f"{out}: a Parquet portfolio is written as a folder of Parquet parts")
    if out.is_file():
        raise InputError(f"{out}: is a file; --out names the folder of output parts")
    out.mkdir(parents=True, exist_ok=True)
    for stale in [out / MANIFEST, *out.glob("part-*.parquet"), *out.glob("quarantine/part-*")]:
        stale.unlink(missing_ok=True)


def _run_streamed(
    items: list[Fragment], job: ScoringJob, progress: Progress
) -> list[PartitionResult]:
    starts = first_rows(items)
    results = []
    with progress.task("scoring (streamed)", len(items)) as advance:
        for (fragment, raw), start in zip(iter_partitions(items), starts, strict=True):
            origin = f"{fragment.path} (row group {fragment.row_group})"
            results.append(
                score_partition(raw, job, index=fragment.index, first_row=start, origin=origin)
            )
            del raw
            advance()
    return results


def _run_cluster(
    items: list[Fragment], job: ScoringJob, settings: ClusterSettings, progress: Progress
) -> list[PartitionResult]:
    from distributed import as_completed

    with connect(settings) as client:
        # One copy of the model per worker, single-threaded there (the OpenMP trap in NOTES).
        job.model.num_threads = settings.cluster_threads
        shared = client.scatter(job, broadcast=True)
        futures = client.map(
            score_fragment, items, [shared] * len(items), first_rows(items), pure=False
        )
        results = []
        with progress.task(f"scoring on {settings.cluster}", len(items)) as advance:
            for future in as_completed(futures):
                results.append(future.result())
                advance()
    return sorted(results, key=lambda r: r.index)


def predict_dataset(
    data: str | Path,
    *,
    out: str | Path,
    source: str | None = None,
    model: str | LoadedModel | None = None,
    cluster: ClusterSettings | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    validation: ValidationConfig | None = None,
    quiet: bool = False,
) -> PortfolioResult:
    """Score a Parquet portfolio into ``out`` (a folder of parts); see the module docstring.

    Raises:
        NotFoundError: no such model. InputError: bad input or output path.
        DataValidationError: more rows failed validation than ``max_failure_share`` allows
            (every part and quarantine part is written first, for inspection).
    """
    out = Path(out)
    items = fragments(data, batch_rows=batch_rows)
    if not items:
        raise InputError(f"{data}: the data set has no rows")
    loaded = model if isinstance(model, LoadedModel) else load_registered(model)
    config = validation or ValidationConfig.load()
    job = ScoringJob(
        model=loaded.model,
        thresholds=loaded.metadata.thresholds.risk(),
        policy=loaded.metadata.policy(),
        mapping=load_mapping(source) if source is not None else canonical_mapping(),
        validation=config,
        now=datetime.now(UTC),
        out=str(out.resolve()),
    )
    _prepare_out(out)
    started = time.perf_counter()
    with Progress(quiet=quiet) as progress:
        if cluster is None or cluster.cluster is None:
            where, results = "streamed", _run_streamed(items, job, progress)
        else:
            where, results = cluster.cluster, _run_cluster(items, job, cluster, progress)
    seconds = time.perf_counter() - started
    by_rule: Counter[str] = Counter()
    for result in results:
        by_rule.update(result.by_rule)
    summary = PortfolioResult(
        out=out,
        rows_in=sum(r.rows_in for r in results),
        scored=sum(r.scored for r in results),
        quarantined=sum(r.quarantined for r in results),
        partitions=len(results),
        bento_tag=loaded.tag,
        seconds=seconds,
        where=where,
        by_rule=dict(by_rule),
    )
    manifest = {
        **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(summary).items()},
        "input": str(data),
        "parts": [asdict(r) for r in results],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    share = summary.quarantined / summary.rows_in
    if share > config.max_failure_share:
        raise DataValidationError(
            f"validation failed: {summary.quarantined:,} of {summary.rows_in:,} rows "
            f"({share:.1%}) broke rules, above the maximum {config.max_failure_share:.0%} "
            f"(max_failure_share); the scored and quarantined parts are in {out}"
        )
    return summary
