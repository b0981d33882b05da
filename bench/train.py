"""Benchmark ``loanctl train`` end to end on generated data and print the time of each stage.

    .venv/bin/python bench/train.py [--rows 100000] [--config configs/training.yaml]

Runs in a throw-away LOAN_HOME / BENTOML_HOME / MLflow store (nothing of yours is touched),
then prints each stage's seconds, its share of the total and the total against the budget
(10 minutes for 100,000 rows on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds allowed")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["LOAN_HOME"] = str(home)
    os.environ["BENTOML_HOME"] = str(home / "bentoml")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

    from loan_default.data.generate import generate_applications
    from training.pipeline import run_training

    data = home / "applications.parquet"
    generate_applications(args.rows, seed=args.seed).to_parquet(data, index=False)
    start = time.perf_counter()
    result = run_training(data, config=args.config, quiet=args.quiet)
    total = time.perf_counter() - start

    print(f"\nloanctl train on {args.rows:,} generated rows (home {home})")
    print(f"{'stage':<12}{'seconds':>10}{'share':>9}")
    for stage, seconds in result.timings.items():
        print(f"{stage:<12}{seconds:>10.1f}{seconds / total:>9.1%}")
    print(f"{'total':<12}{total:>10.1f}   {total / args.budget:.2f} x budget ({args.budget:.0f} s)")
    columns = ["candidate", "roc_auc_mean", "roc_auc_std", "brier_calibrated", "seconds"]
    print(result.table[columns].to_string(index=False))
    holdout = result.metrics.holdout.get("roc_auc", float("nan"))
    print(f"champion {result.champion}: hold-out ROC AUC {holdout:.4f}")


if __name__ == "__main__":
    main()
