"""How long one monitoring window takes: our statistics against Evidently's DataDriftPreset.

Same data, same run: a 100,000-row reference and a 10,000-row window from
``loan_default.data.generate`` (the window shifted with the ``income_drop`` preset), all monitored
fields plus the score. Ours is ``monitoring.drift.compute_drift`` (median of ``--repeats``
runs after a warm-up); Evidently's is ``Report([DataDriftPreset()]).run`` on the full reference,
in a forked child so it can be stopped at the time budget (the whole script stays under
``--budget`` seconds). Usage::

    .venv/bin/python bench/monitor.py [--reference-rows 100000] [--window-rows 10000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue as queue_lib
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd

from loan_default.data.generate import simulate
from loan_default.model import RiskThresholds
from loan_default.reference import MONITORED_FIELDS, PROBABILITY, build_reference
from monitoring.drift import compute_drift
from monitoring.fairness import compute_fairness
from monitoring.performance import estimated_performance
from monitoring.quality import compute_quality

SHIFT = "income_drop"


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    result = fn()  # warm-up: caches (sorted reference columns), lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


def _evidently(reference: pd.DataFrame, current: pd.DataFrame, queue: Any) -> None:
    warnings.simplefilter("ignore", FutureWarning)  # Evidently 0.7 on pandas 2.3
    start = time.perf_counter()
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    from monitoring.evidently_report import data_definition, drifted_columns

    queue.put(("import", time.perf_counter() - start, None))
    columns = list(current.columns)
    definition = data_definition(columns)
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset(columns=columns)], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    elapsed = time.perf_counter() - start
    queue.put(("run", elapsed, drifted_columns(snapshot.dict())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--window-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0, help="Seconds for the whole run.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget

    training = simulate(args.reference_rows, seed=args.seed)
    window = simulate(args.window_rows, seed=args.seed + 1, shift=SHIFT)
    start = time.perf_counter()
    reference = build_reference(training.frame, training.probability, seed=args.seed)
    built = time.perf_counter() - start
    frame, p = window.frame, window.probability
    print(
        f"reference {args.reference_rows:,} rows, window {args.window_rows:,} rows "
        f"(shift {SHIFT}), {len(MONITORED_FIELDS)} fields + score"
    )
    print(f"{'build_reference':<32}{built:8.3f} s")

    drift_median, drift_max, summary = _timed(
        lambda: compute_drift(reference, frame, p), args.repeats
    )
    print(f"{'compute_drift (ours, median)':<32}{drift_median:8.3f} s   max {drift_max:.3f} s")
    risk = RiskThresholds(0.3, 0.7).categories(p)
    for name, fn in {
        "compute_quality": lambda: compute_quality(frame, reference=reference),
        "compute_fairness": lambda: compute_fairness(frame, risk),
        "estimated_performance": lambda: estimated_performance(p),
    }.items():
        median, _, _ = _timed(fn, args.repeats)
        print(f"{name:<32}{median:8.3f} s")

    columns = [f.name for f in MONITORED_FIELDS] + [PROBABILITY]
    current = frame.assign(**{PROBABILITY: p})[columns]
    context = mp.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_evidently, args=(reference.sample[columns], current, queue))
    child.start()
    results: dict[str, tuple[float, Any]] = {}
    run_started = None
    while len(results) < 2 and time.monotonic() < deadline:
        try:
            stage, seconds, payload = queue.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue_lib.Empty:  # the budget ran out
            break
        results[stage] = (seconds, payload)
        run_started = time.monotonic()
    if child.is_alive():
        child.terminate()
    child.join()

    print(f"ours flags: {sorted(summary.drifted_features)} (score PSI {summary.score_psi:.3f})")
    if "import" in results:
        print(f"{'import evidently':<32}{results['import'][0]:8.3f} s (once per process)")
    if "run" not in results:
        print(f"evidently DataDriftPreset did not finish within the {args.budget:.0f} s budget")
        if run_started is not None:
            waited = time.monotonic() - run_started
            print(f"{'evidently DataDriftPreset':<32}   > {waited:.1f} s (stopped)")
            print(f"ratio evidently / ours: > {waited / drift_median:.0f}x")
        return
    seconds, drifted = results["run"]
    print(f"{'evidently DataDriftPreset':<32}{seconds:8.3f} s   ({len(reference.sample):,} rows)")
    print(f"evidently flags: {sorted(drifted)}")
    print(f"ratio evidently / ours: {seconds / drift_median:.0f}x")


if __name__ == "__main__":
    main()
