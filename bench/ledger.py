"""The prediction index's commit: checkpoints in their own thread vs SQLite's automatic ones.

Usage::

    .venv/bin/python bench/ledger.py [--seconds 5] [--folder DIR]

Each call records one prediction id, as a single ``/v1/predict`` does (``runners.ledger``).
With SQLite's automatic checkpoint, the commit that fills the WAL also copies it into the
database and syncs both files; ``PredictionIndex`` checkpoints in a thread instead. Wall time
(a sync blocks the event loop without using CPU), best mean of 5 repeats
(``bench/timing.py``), in a temporary folder under ``--folder`` (put it on the file system
``LOAN_HOME`` is on).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import per_call  # noqa: E402  (bench/ is on sys.path)

from runners.ledger import PredictionIndex, new_prediction_ids  # noqa: E402


def one_id_per_call(index: PredictionIndex, seconds: float) -> float:
    """Wall seconds per ``add`` of one id."""
    return per_call(
        lambda: index.add(new_prediction_ids(1), model_version="v1"),
        seconds,
        clock=time.perf_counter,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="Per variant.")
    parser.add_argument("--folder", type=Path, default=None, help="Where the files go.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        index = PredictionIndex(Path(tmp, "threaded"), "w1")
        threaded = one_id_per_call(index, args.seconds)
        index.close()
        automatic = PredictionIndex(Path(tmp, "automatic"), "w1", checkpoint_seconds=None)
        inline = one_id_per_call(automatic, args.seconds)
        automatic.close()
        with sqlite3.connect(Path(tmp, "threaded", "w1.sqlite")) as db:
            (kept,) = db.execute("SELECT count(*) FROM issued").fetchone()
    print(f"one id per commit, {args.seconds:g} s a variant ({kept:,} ids kept by the threaded)")
    print(f"  checkpoints in a thread : {threaded * 1e6:6.1f} us per call")
    print(f"  automatic checkpoints   : {inline * 1e6:6.1f} us per call")
    print(f"  ratio                   : {threaded / inline:.0%} of the automatic one's time")


if __name__ == "__main__":
    main()
