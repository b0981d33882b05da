"""The prediction index's commit: checkpoints in their own thread vs SQLite's automatic ones.

Usage::

    .venv/bin/python bench/ledger.py [--calls 3000]

Each call records one prediction id, as a single ``/v1/predict`` does (``runners.ledger``).
With SQLite's automatic checkpoint, the commit that fills the WAL also copies it into the
database and syncs both files; ``PredictionIndex`` checkpoints in a thread instead. Wall time
(a sync blocks the event loop without using CPU), best mean of 5 repeats, in a temporary folder
on the same file system as ``LOAN_HOME`` would be (``--folder``).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runners.ledger import PredictionIndex, new_prediction_ids  # noqa: E402


def wall_per_call(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="Calls per repeat.")
    parser.add_argument("--folder", type=Path, default=None, help="Where the files go.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        index = PredictionIndex(Path(tmp, "threaded"), "w1")
        threaded = wall_per_call(
            lambda: index.add(new_prediction_ids(1), model_version="v1"), args.calls
        )
        index.close()
        automatic = PredictionIndex(Path(tmp, "automatic"), "w1", checkpoint_seconds=None)
        inline = wall_per_call(
            lambda: automatic.add(new_prediction_ids(1), model_version="v1"), args.calls
        )
        automatic.close()
        size = (
            sqlite3.connect(Path(tmp, "threaded", "w1.sqlite"))
            .execute("SELECT count(*) FROM issued")
            .fetchone()[0]
        )
    print(f"one id per commit, {args.calls:,} calls x 5 ({size:,} ids kept by the threaded index)")
    print(f"  checkpoints in a thread : {threaded * 1e6:6.1f} us per call")
    print(f"  automatic checkpoints   : {inline * 1e6:6.1f} us per call")
    print(f"  ratio                   : {threaded / inline:.0%} of the automatic one's time")


if __name__ == "__main__":
    main()
