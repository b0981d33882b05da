"""Feature engineering and data generation speed, against a pandas baseline in the same run.

Usage::

    .venv/bin/python bench/features.py [--rows 1000000] [--seconds 1]

Measures, in one process:

* ``FeatureEngineer.transform_records`` on one application (the serving path; target < 100 us),
  next to the baseline of merely building a one-row ``pd.DataFrame`` from the same dict, and
  the DataFrame path (``transform(pd.DataFrame([record]))``); ratios are printed;
* ``FeatureEngineer.transform`` throughput on ``--rows`` rows (100,000 generated rows repeated,
  the cost does not depend on the values);
* ``generate_applications`` for 100,000 rows, and how learnable its labels are: the ROC AUC
  of the known mechanism's probability and of a quick LightGBM trained on 20,000 rows, both on
  20,000 held-out rows (the generator is tuned for 0.75-0.85).

Times are CPU seconds of this process (``time.process_time``), so other load on a shared
machine inflates them little; single-row numbers are the best of 5 repeats. Bounded: each
single-row timing runs for about ``--seconds`` of CPU; the script takes ~15 s of CPU.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from timing import per_call  # bench/ is on sys.path

from loan_default.data.generate import generate_applications, simulate
from loan_default.features import FeatureEngineer


def _best_of(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def _learnability() -> tuple[float, float, float]:
    """(mechanism AUC, LightGBM AUC, default rate) on 20,000 held-out generated rows."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    simulation = simulate(40_000, seed=3)
    frame = simulation.frame
    train, test = frame.iloc[:20_000], frame.iloc[20_000:]
    engineer = FeatureEngineer().fit(train)
    model = lgb.LGBMClassifier(
        n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=50,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=0, verbose=-1,
    )  # fmt: skip
    model.fit(engineer.transform(train), train["default"])
    p = np.asarray(model.predict_proba(engineer.transform(test)))[:, 1]
    y = test["default"]
    return (
        float(roc_auc_score(y, simulation.probability[20_000:])),
        float(roc_auc_score(y, p)),
        float(frame["default"].mean()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for transform")
    parser.add_argument("--seconds", type=float, default=1.0, help="per single-row timing")
    args = parser.parse_args()

    generate_applications(1000, seed=0)  # warm up imports and caches
    started = time.process_time()
    frame = generate_applications(100_000, seed=1)
    generation = time.process_time() - started
    engineer = FeatureEngineer().fit(frame)
    record = {
        str(k): (None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in frame.drop(columns=["default"]).iloc[0].to_dict().items()
    }
    np.testing.assert_array_equal(
        engineer.transform_records([record]), engineer.transform(pd.DataFrame([record]))
    )

    fast = per_call(lambda: engineer.transform_records([record]), args.seconds)
    baseline = per_call(lambda: pd.DataFrame([record]), args.seconds)
    frame_path = per_call(lambda: engineer.transform(pd.DataFrame([record])), args.seconds)

    repeats = max(1, math.ceil(args.rows / len(frame)))
    big = pd.concat([frame] * repeats, ignore_index=True).iloc[: args.rows]
    transform = _best_of(lambda: engineer.transform(big), repeats=2)

    mechanism_auc, model_auc, default_rate = _learnability()
    us = 1e6
    print(f"one application, {engineer.n_features_out_} features (best of 5 repeats):")
    print(f"  transform_records([record])          {fast * us:9.1f} us   (target < 100 us)")
    print(f"  baseline: pd.DataFrame([record])     {baseline * us:9.1f} us   ", end="")
    print(f"-> transform_records is {baseline / fast:.1f}x faster than the DataFrame alone")
    print(f"  transform(pd.DataFrame([record]))   {frame_path * us:9.1f} us   ", end="")
    print(f"-> {frame_path / fast:.0f}x the fast path")
    print(f"transform on {len(big):,} rows: {transform:.2f} s = {len(big) / transform:,.0f} rows/s")
    print(f"generate_applications(100,000 rows): {generation:.2f} s")
    print(
        f"labels: {default_rate:.1%} defaults; held-out ROC AUC of the true mechanism "
        f"{mechanism_auc:.3f}, of LightGBM trained on 20,000 rows {model_auc:.3f}"
    )


if __name__ == "__main__":
    main()
