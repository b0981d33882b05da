"""Serving benchmark: the BentoML service against a naive FastAPI app, a lean floor and the model.

Usage::

    .venv/bin/python bench/serve.py [--seconds 10] [--workers 2] [--model-tag loan_default:v...]

Everything runs on 127.0.0.1 (ports 3100-3199), one server at a time, each scenario bounded by
``--seconds``. Without ``--model-tag`` a realistic model (300 trees x 31 leaves on 20,000
generated applications) is trained into a temporary Bento store. Scenarios: single-application
``/v1/predict`` at concurrency 1, 16 and 64, ``/v1/predict_batch`` rows per second, and
``/v1/explain`` latency; against (a) the naive FastAPI app, (b) the lean uvicorn + orjson +
Booster floor (``bench/apps.py``) and (c) the model's own predict call in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadgen import LoadResult, run_load  # noqa: E402  (bench/ is on sys.path)

PY = str(ROOT / ".venv" / "bin" / "python")
BENTOML = str(ROOT / ".venv" / "bin" / "bentoml")


def train_bench_model(rows: int, seed: int) -> str:
    """A realistic LightGBM model saved to the Bento store; returns its tag."""
    import lightgbm as lgb

    from loan_default.data.generate import generate_applications
    from loan_default.features import FeatureEngineer
    from loan_default.model import ScoringModel
    from loan_default.schema import LABEL
    from tests.runners.tiny_model import save

    frame = generate_applications(rows, seed=seed)
    features = FeatureEngineer().fit(frame)
    estimator = lgb.LGBMClassifier(
        n_estimators=300, num_leaves=31, learning_rate=0.05, random_state=seed, verbose=-1
    )
    estimator.fit(
        features.transform(frame), frame[LABEL], categorical_feature=features.categorical_indices_
    )
    return save(ScoringModel(features, estimator), frame, version="vbench")


@contextmanager
def server(name: str, cmd: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    """Start a server in its own process group, wait until it answers, stop it after."""
    log = Path(tempfile.gettempdir()) / f"bench-serve-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError as exc:
                if getattr(exc, "code", None) == 404:  # baselines have no /readyz
                    break
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{name} did not start in 120 s; see {log}")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def load(port: int, path: str, bodies: list[bytes], concurrency: int, seconds: float) -> LoadResult:
    return asyncio.run(run_load(port, path, bodies, concurrency=concurrency, seconds=seconds))


def raw_model(tag: str, singles: list[dict], batch: list[dict], seconds: float) -> dict[str, float]:
    """The model's own predict calls in this process (no HTTP, no validation)."""
    from loan_default.store import load_model

    model = load_model(tag).model
    out: dict[str, float] = {}
    X = model.features.transform_records(batch)
    calls = {"records": lambda: model.predict_proba_records(batch),
             "matrix": lambda: model.predict_proba_matrix(X)}  # fmt: skip
    for threads in (1, 0):
        model.num_threads = threads
        for kind, call in calls.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 4:
                call()
                n += len(batch)
            out[f"{kind}_threads{threads}"] = n / (time.perf_counter() - t0)
    model.num_threads = 1
    lat = []
    t_end = time.perf_counter() + seconds / 2
    i = 0
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        model.predict_proba_records([singles[i % len(singles)]])
        lat.append(time.perf_counter() - t)
        i += 1
    r = LoadResult(requests=len(lat), seconds=sum(lat), latencies=lat)
    out.update(single_calls_per_s=r.rps, single_p50=r.percentile(50), single_p99=r.percentile(99))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Per scenario.")
    parser.add_argument("--workers", type=int, default=2, help="HTTP workers of every server.")
    parser.add_argument("--batch-rows", type=int, default=1000, help="Rows per batch request.")
    parser.add_argument("--model-tag", help="Serve this Bento model instead of training one.")
    parser.add_argument("--concurrency", default="1,16,64", help="Single-request concurrencies.")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="Also measure the scorer as a bentoml.depends service (bench/depends_variant.py).",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        return _run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # traffic logs and, by default, the bench model


def _run(args: argparse.Namespace, home: Path) -> int:
    levels = [int(c) for c in args.concurrency.split(",")]
    os.environ.setdefault("BENTOML_HOME", str(home / "bentoml"))
    os.environ["LOAN_HOME"] = str(home)
    from loan_default.data.generate import generate_applications
    from loan_default.store import load_model
    from tests.runners.tiny_model import payloads

    tag = args.model_tag or train_bench_model(20_000, seed=0)
    print(f"model {tag}; {args.workers} workers; {args.seconds:g} s per scenario", flush=True)
    singles = payloads(generate_applications(500, seed=11))
    batch = payloads(generate_applications(args.batch_rows, seed=12))
    single_bodies = [orjson.dumps(s) for s in singles]
    batch_bodies = [orjson.dumps({"applications": batch})]

    env = dict(os.environ, LOAN_MODEL_TAG=tag, LOAN_GRPC_PORT="3199", OMP_NUM_THREADS="1")
    env["BENCH_MODEL_DIR"] = str(load_model(tag).path)
    naive_env = {k: v for k, v in env.items() if k != "OMP_NUM_THREADS"}  # a user's defaults
    uvicorn = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", str(args.workers)]
    uvicorn += ["--no-access-log", "--log-level", "warning"]
    targets = {
        "bentoml": ([BENTOML, "serve", "service:LoanDefaultService", "--host", "127.0.0.1",
                     "--port", "3100"], env, 3100),
        "naive_fastapi": ([*uvicorn, "--port", "3101", "bench.apps:naive"], naive_env, 3101),
        "lean_floor": ([*uvicorn, "--port", "3102", "bench.apps:lean"], env, 3102),
    }  # fmt: skip
    if args.variants:
        targets["bentoml_depends"] = (
            [BENTOML, "serve", "bench.depends_variant:DependsApi", "--host", "127.0.0.1",
             "--port", "3103"], env, 3103,
        )  # fmt: skip
    results: dict[tuple[str, str], LoadResult] = {}
    for name, (cmd, target_env, port) in targets.items():
        with server(name, cmd, target_env, port):
            for c in levels:
                results[name, f"c{c}"] = load(port, "/v1/predict", single_bodies, c, args.seconds)
                _row(name, f"predict c={c}", results[name, f"c{c}"])
            if name == "bentoml_depends":
                continue  # single predictions only
            res = load(port, "/v1/predict_batch", batch_bodies, args.workers * 2, args.seconds)
            results[name, "batch"] = res
            _row(name, f"batch x{args.batch_rows}", res, rows=args.batch_rows)
            if name == "bentoml":
                for c in (1, 4):
                    res = load(port, "/v1/explain", single_bodies, c, args.seconds / 2)
                    _row(name, f"explain c={c}", res)
    raw = raw_model(tag, singles, batch, args.seconds)
    print(
        f"{'raw model':14} single call (features + model): {raw['single_calls_per_s']:,.0f}/s "
        f"p50 {raw['single_p50'] * 1e3:.3f} ms p99 {raw['single_p99'] * 1e3:.3f} ms"
    )
    for kind, what in (
        ("records", "predict_proba_records (features + model)"),
        ("matrix", "predict_proba_matrix (model only, features prebuilt)"),
    ):
        print(f"{'raw model':14} batch {what}: {raw[kind + '_threads1']:,.0f} rows/s 1 thread, "
              f"{raw[kind + '_threads0']:,.0f} rows/s all cores")  # fmt: skip
    return _verdict(results, raw, levels, args.batch_rows)


def _row(name: str, scenario: str, r: LoadResult, rows: int = 1) -> None:
    per = f"{r.rps * rows:>9,.0f} rows/s" if rows > 1 else f"{r.rps:>9,.0f} req/s "
    print(f"{name:14} {scenario:16} {per} p50 {r.percentile(50) * 1e3:7.2f} ms "
          f"p99 {r.percentile(99) * 1e3:7.2f} ms errors {r.errors} {dict(r.statuses)}",
          flush=True)  # fmt: skip


def _verdict(results: dict, raw: dict[str, float], levels: list[int], rows: int) -> int:
    top = f"c{max(levels)}"
    bento, naive, lean = (results[n, top] for n in ("bentoml", "naive_fastapi", "lean_floor"))
    batch_rows = results["bentoml", "batch"].rps * rows
    raw_rows = max(raw["records_threads1"], raw["records_threads0"])  # the better of the two
    checks = {
        f"bentoml/naive at {top}: {bento.rps / max(naive.rps, 1e-9):.1f}x (>= 10x)":
            bento.rps >= 10 * naive.rps,
        f"bentoml/lean floor at {top}: {bento.rps / lean.rps:.0%} (>= 20%)":
            bento.rps >= 0.2 * lean.rps,
        f"bentoml p99 at {top}: {bento.percentile(99) * 1e3:.1f} ms (< 50 ms)":
            bento.percentile(99) < 0.050,
        f"bentoml errors: {sum(r.errors for (n, _), r in results.items() if n == 'bentoml')}":
            all(r.errors == 0 for (n, _), r in results.items() if n == "bentoml"),
        f"batch rows/s vs the model's predict_proba_records: "
        f"{batch_rows / raw_rows:.0%} (>= 50%)":
            batch_rows >= 0.5 * raw_rows,
    }  # fmt: skip
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
