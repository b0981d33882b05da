"""Past one machine: portfolio scoring streamed vs on a LocalCluster, and LightGBM training.

    .venv/bin/python bench/scale.py [--rows 2000000 10000000] [--train-rows 1000000]

For each size: generated applications are written to disk in chunks (the generator in a loop,
so generation stays bounded in memory; reused when already there), then ``loanctl predict``
scores them twice as a subprocess, streamed and with ``--cluster local`` (2 workers x 1
thread), while the peak RSS of its whole process tree (the client, nannies and workers; shared
pages counted once per process, so an upper bound) is sampled every 0.1 s. Then LightGBM (the
``lightgbm`` candidate of ``configs/training.yaml``) is fitted on ``--train-rows`` rows on one
machine and with ``lightgbm.dask`` on a LocalCluster of the same 2 cores.

Everything lives under ``--work`` (default ``var/bench/scale``, git-ignored): the data, a
throw-away LOAN_HOME, Bento store and MLflow store. Ratios are against the streamed run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

CHUNK = 250_000
ROW_GROUP = 100_000


def generate(folder: Path, rows: int) -> Path:
    """``rows`` generated applications in files of ``CHUNK`` rows (reused if complete)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loan_default.data.generate import generate_applications

    done = folder / f"_COMPLETE_{rows}"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, first in enumerate(range(0, rows, CHUNK)):
        frame = generate_applications(min(CHUNK, rows - first), seed=1_000 + i)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=ROW_GROUP)
        del frame, table
    done.touch()
    print(f"generated {rows:,} rows in {time.perf_counter() - start:.0f} s -> {folder}")
    return folder


def fixture_model(rows: int = 50_000) -> str:
    """A LightGBM scoring model (200 trees) trained on generated rows, saved to the store."""
    from datetime import UTC, datetime

    import lightgbm as lgb

    from loan_default.data.generate import generate_applications
    from loan_default.features import FeatureEngineer
    from loan_default.model import ScoringModel
    from loan_default.schema import LABEL
    from loan_default.store import ModelMetadata, new_version, save_model

    frame = generate_applications(rows, seed=99)
    features = FeatureEngineer().fit(frame)
    estimator = lgb.LGBMClassifier(n_estimators=200, num_leaves=15, learning_rate=0.05,
                                   n_jobs=1, verbose=-1)  # fmt: skip
    estimator.fit(features.transform(frame), frame[LABEL].to_numpy(),
                  categorical_feature=features.categorical_indices_)  # fmt: skip
    model = ScoringModel(features, estimator)
    metadata = ModelMetadata(version=new_version(), algorithm="LGBMClassifier",
                             created_at=datetime.now(UTC), feature_names=model.feature_names,
                             data_hash="bench", data_rows=rows)  # fmt: skip
    save_model(model, metadata)
    return metadata.tag


def run_measured(command: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS of the process tree in MB)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak = max(peak, total / 2**20)
            except psutil.Error:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-3000:]}")
    return out, time.perf_counter() - start, peak


def score(data: Path, out: Path, tag: str, cluster: bool, env: dict[str, str]) -> dict[str, float]:
    loanctl = str(Path(sys.executable).with_name("loanctl"))
    command = [loanctl, "predict", "--data", str(data), "--out", str(out), "--model", tag,
               "--quiet", *(["--cluster", "local"] if cluster else [])]  # fmt: skip
    stdout, wall, peak = run_measured(command, env)
    found = re.search(r"scored ([\d,]+) of ([\d,]+) rows .*?([\d,]+) rows/s", stdout)
    if found is None:
        sys.exit(f"unexpected output: {stdout}")
    return {"rows": float(found[2].replace(",", "")), "rows_s": float(found[3].replace(",", "")),
            "wall": wall, "peak_mb": peak}  # fmt: skip


def train(data: Path, rows: int, trees: int | None) -> dict[str, float]:
    """Seconds to fit the configured LightGBM candidate on ``rows`` rows, both ways."""
    import pandas as pd
    from distributed import Client, LocalCluster

    from loan_default.features import FeatureEngineer
    from loan_default.partitions import Fragment, fragments, read_fragment
    from loan_default.portfolio import first_rows
    from loan_default.schema import LABEL, coerce_frame
    from training import distributed as dist
    from training.candidates import build_pipeline, fit_params
    from training.config import TrainingConfig

    cand = TrainingConfig.load().candidate("lightgbm")
    if trees is not None:
        cand = cand.model_copy(update={"params": {**cand.params, "n_estimators": trees}})
    items: list[Fragment] = []
    for item in fragments(data):
        if sum(i.rows for i in items) >= rows:
            break
        items.append(item)
    frame = coerce_frame(pd.concat([read_fragment(i) for i in items], ignore_index=True))
    X, y = frame.drop(columns=[LABEL]), frame[LABEL].astype(int).to_numpy()
    pipeline = build_pipeline(cand, seed=0)
    pipeline.set_params(model__n_jobs=2)  # both ways use the machine's 2 cores
    start = time.perf_counter()
    pipeline.fit(X, y, **fit_params(cand))
    single = time.perf_counter() - start
    features = FeatureEngineer().fit(X)
    del frame, X
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        ) as local,  # fmt: skip
        Client(local) as client,
    ):
        from datetime import UTC, datetime

        from loan_default.data.mappings import canonical_mapping
        from loan_default.data.validation import ValidationConfig

        job = dist.PrepareJob(canonical_mapping(), ValidationConfig.load(), datetime.now(UTC), 0,
                              str(data.parent / "quarantine"))  # fmt: skip
        prepared = dist.prepare_on_cluster(items, first_rows(items), job, client)
        prepared = prepared.drop(columns=list(dist.EXTRA))
        len(prepared)  # loaded and validated on the workers before the clock starts
        start = time.perf_counter()
        dist.fit_lightgbm(cand, {}, prepared, features, seed=0, client=client)
        distributed = time.perf_counter() - start
    return {"rows": float(len(y)), "single": single, "distributed": distributed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 10_000_000])
    parser.add_argument("--train-rows", type=int, default=1_000_000, help="0: skip training")
    parser.add_argument(
        "--train-trees",
        type=int,
        default=None,
        help="override the candidate's n_estimators (the fit time is linear in it)",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["streamed", "cluster"], default=["streamed", "cluster"]
    )
    parser.add_argument("--work", type=Path, default=Path("var/bench/scale"))
    args = parser.parse_args()
    work = args.work.resolve()
    home = work / "home"
    env = {**os.environ, "LOAN_HOME": str(home), "BENTOML_HOME": str(home / "bentoml"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true",
           "LOAN_CLUSTER_WORKERS": "2", "LOAN_CLUSTER_THREADS": "1",
           "LOAN_CLUSTER_MEMORY": "2GiB"}  # fmt: skip
    (home / "mlflow").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    tag = fixture_model()
    print(f"model {tag}; work folder {work}")
    datasets = {rows: generate(work / f"data-{rows}", rows) for rows in args.rows}
    print(f"\n{'rows':>11} {'scoring':<17}{'rows/s':>10}{'ratio':>8}{'wall s':>9}{'peak MB':>10}")
    for rows, data in datasets.items():
        base = None
        for mode in args.modes:
            r = score(data, work / f"out-{rows}-{mode}", tag, mode == "cluster", env)
            base = base or r["rows_s"]
            name = "streamed" if mode == "streamed" else "LocalCluster 2x1"
            print(
                f"{rows:>11,} {name:<17}{r['rows_s']:>10,.0f}{r['rows_s'] / base:>7.2f}x"
                f"{r['wall']:>9.1f}{r['peak_mb']:>10,.0f}",
                flush=True,
            )
    if args.train_rows:
        data = generate(work / f"data-{args.rows[0]}", args.rows[0])
        t = train(data, args.train_rows, args.train_trees)
        trees = f", n_estimators={args.train_trees}" if args.train_trees else ""
        print(f"\nLightGBM fit on {t['rows']:,.0f} rows (configs/training.yaml 'lightgbm'{trees}):")
        print(f"  one machine (2 threads)       {t['single']:>8.1f} s")
        print(f"  lightgbm.dask, LocalCluster 2x1 {t['distributed']:>6.1f} s "
              f"({t['distributed'] / t['single']:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
