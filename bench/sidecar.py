"""What one sidecar window costs, and how much of it is Evidently's page.

Registers the tiny test model (``tests/monitoring/sidecar_world.py``), logs ``--rows``
scored applications with their outcomes, and times ``Sidecar.run_once()`` over them as one
window: first without Evidently's page (the baseline: reading, drift, performance, fairness,
quality, report, commit), then with it. Prints both and their ratio, measured in this process.

    .venv/bin/python -m bench.sidecar --rows 5000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    os.environ.setdefault("BENTOML_HOME", str(scratch / "bentoml"))

    from monitoring.sidecar import Sidecar
    from tests.monitoring.sidecar_world import (
        register_model,
        sidecar_config,
        sidecar_settings,
        write_traffic,
    )

    model = register_model("vbench-sidecar")
    windows = {"max_records": args.rows, "max_seconds": 86_400, "min_records": 1}
    config = sidecar_config(windows=windows, fairness={}, retrain={"enabled": False})
    timings: dict[bool, float] = {}
    for evidently in (False, True):
        settings = sidecar_settings(scratch / f"evidently-{evidently}")
        write_traffic(settings.traffic_path, model, "vbench-sidecar", rows=args.rows, seed=5)
        sidecar = Sidecar(settings, config, evidently=evidently)
        start = time.perf_counter()
        [result] = sidecar.run_once()
        timings[evidently] = time.perf_counter() - start
        sidecar.close()
        print(f"evidently={evidently}: {result.records} records in {timings[evidently]:.2f} s")
    print(f"with Evidently's page / without: {timings[True] / timings[False]:.1f}x")


if __name__ == "__main__":
    main()
