"""Serving benchmark: the BentoML service (REST and gRPC) against a lean floor, under C load.

Usage::

    make bench-serve     # installs wrk and h2load when missing, then runs this
    .venv/bin/python bench/serve.py [--seconds 10] [--workers 2] [--model-tag loan_default:v...]
    .venv/bin/python bench/serve.py --enrichment-only   # the feature-store case alone

Everything runs on 127.0.0.1 (ports 3300-3310), all servers up together, each scenario bounded by
``--seconds`` after a one-second warm-up. Without ``--model-tag`` a realistic model (300 trees x
31 leaves on 20,000 generated applications) is trained into a temporary Bento store. HTTP load
comes from ``wrk -t1`` and gRPC load from ``h2load`` (``bench/loadgen.py``): a Python client
would saturate below the floor and measure itself.

Scenarios: single-application ``/v1/predict`` at concurrency 1, 16 and 64, ``/v1/predict_batch``
rows per second and ``/v1/explain`` latency on ``bentoml serve``; the gRPC ``Predict`` call on
the same server at the same concurrencies; the same REST scenarios against (a) the naive FastAPI
app and (b) the lean floor (uvicorn + uvloop + httptools + orjson + the raw Booster, same
workers; ``bench/apps.py``); and (c) the model's own predict call in this process. With
``--enrichment`` (or alone, ``--enrichment-only``): ``/v1/predict`` at the top concurrency with a
feature store on vs off (``bench/enrichment.py``, ``bench/enrichment_case.py``). Servers are
started and loaded by ``bench/servers.py``. The machine is shared: the ratios within one
run are the result, absolute figures move from run to run.
Targets are reported, not asserted (``--strict`` makes a missed target exit 1).
With ``--baseline-tree PATH`` another checkout (say the commit before a change) is served beside
the current one and measured in the same loop, and the ratios between the two are printed
(``bench/baseline.py``). ``--rounds N`` repeats the single-request and batch scenarios N times, the
servers' order alternating, and reports medians (and each round's ratio to the baseline): on a
shared machine one round's ratio moves by +-20%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import baseline  # noqa: E402  (bench/ is on sys.path)
import enrichment  # noqa: E402
import enrichment_case  # noqa: E402
from loadgen import LoadResult  # noqa: E402
from servers import (  # noqa: E402
    BENTOML,
    grpc_load,
    grpc_messages,
    load,
    median,
    report,
    row,
    server,
    train_bench_model,
)

PY = str(ROOT / ".venv" / "bin" / "python")
HTTP_PORT, GRPC_PORT = 3300, 3301


def raw_model(tag: str, singles: list[dict], batch: list[dict], seconds: float) -> dict[str, float]:
    """The model's own predict calls in this process (no HTTP, no validation)."""
    import statistics

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
    q = statistics.quantiles(lat, n=100, method="inclusive")
    out.update(single_calls_per_s=len(lat) / sum(lat), single_p50=q[49], single_p99=q[98])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Per scenario.")
    parser.add_argument("--workers", type=int, default=2, help="HTTP workers of every server.")
    parser.add_argument("--batch-rows", type=int, default=1000, help="Rows per batch request.")
    parser.add_argument("--model-tag", help="Serve this Bento model instead of training one.")
    parser.add_argument("--concurrency", default="1,16,64", help="Single-request concurrencies.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target is missed.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Single-request and batch scenarios repeated this many times, interleaved; "
        "medians reported.",
    )
    parser.add_argument(
        "--enrichment",
        action="store_true",
        help="Also measure /v1/predict with a feature store on vs off (bench/enrichment.py).",
    )
    parser.add_argument(
        "--enrichment-only", action="store_true", help="Measure the feature-store case only."
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="Also measure the scorer as a bentoml.depends service (bench/depends_variant.py).",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="Also serve another checkout of this project (e.g. the commit before a change, "
        "with its own .venv) and print this service's ratios to it (bench/baseline.py).",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        return _run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # traffic logs and, by default, the bench model


def _run(args: argparse.Namespace, home: Path) -> int:
    levels = [int(c) for c in args.concurrency.split(",")]
    if not args.model_tag:  # the bench model goes to a throw-away store, never the user's
        os.environ["BENTOML_HOME"] = str(home / "bentoml")
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

    grpc_path, grpc_bodies = grpc_messages(singles[:1])
    bodies = {"bentoml": single_bodies}
    env = dict(os.environ, LOAN_MODEL_TAG=tag, LOAN_GRPC_HOST="127.0.0.1", OMP_NUM_THREADS="1")
    # The serving core without token checks and audit (neither baseline has them);
    # bench/security.py measures what the two add.
    env.update(LOAN_AUTH_MODE="off", LOAN_ENVIRONMENT="development", LOAN_AUDIT_ENABLED="false")
    env["LOAN_GRPC_PORT"] = str(GRPC_PORT)
    env["BENCH_MODEL_DIR"] = str(load_model(tag).path)
    naive_env = {k: v for k, v in env.items() if k != "OMP_NUM_THREADS"}  # a user's defaults
    uvicorn = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", str(args.workers)]
    uvicorn += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    uvicorn += ["--log-level", "warning"]
    targets = {
        "bentoml": ([BENTOML, "serve", "service:LoanDefaultService", "--host", "127.0.0.1",
                     "--port", str(HTTP_PORT)], env, HTTP_PORT),
        "lean_floor": ([*uvicorn, "--port", "3303", "bench.apps:lean"], env, 3303),
        "naive_fastapi": ([*uvicorn, "--port", "3302", "bench.apps:naive"], naive_env, 3302),
    }  # fmt: skip
    if args.variants:
        targets["bentoml_depends"] = (
            [BENTOML, "serve", "bench.depends_variant:DependsApi", "--host", "127.0.0.1",
             "--port", "3304"], env, 3304,
        )  # fmt: skip
    if args.enrichment or args.enrichment_only:
        targets |= enrichment_case.enriched_servers(env, home, singles)
    if args.enrichment_only:
        targets = {k: v for k, v in targets.items() if k.startswith("bentoml")}
        return enrichment_case.case(
            targets, singles, max(levels), args.seconds, args.strict, args.rounds
        )
    cwds = dict.fromkeys(targets, ROOT)
    grpc_calls = {"bentoml": (f"http://127.0.0.1:{GRPC_PORT}{grpc_path}", grpc_bodies[0])}
    if args.baseline_tree:
        before = baseline.prepare(args.baseline_tree, home / "baseline", env,
                                  batch_rows=args.batch_rows)  # fmt: skip
        print(f"baseline {before.root} serving {before.env['LOAN_MODEL_TAG']}", flush=True)
        targets["before"] = (before.cmd, before.env, baseline.HTTP_PORT)
        cwds["before"] = before.root
        bodies["before"] = [orjson.dumps(s) for s in before.singles]
        batch_bodies_of = {"before": [orjson.dumps({"applications": before.batch})]}
        path, messages = grpc_messages(before.singles[:1], before.root)
        grpc_calls["before"] = (f"http://127.0.0.1:{baseline.GRPC_PORT}{path}", messages[0])
    else:
        batch_bodies_of = {}
    results: dict[tuple[str, str], LoadResult] = {}
    rounds: dict[tuple[str, str], list[LoadResult]] = {}
    ports = {name: port for name, (_, _, port) in targets.items()}
    # All servers up at once (idle ones cost memory, not CPU), then each scenario measured on
    # every server back to back: on a shared machine whose load drifts by the minute, the
    # floor and the service then see the same neighbours, and their ratio means something.
    with ExitStack() as stack:
        for name, (cmd, target_env, port) in targets.items():
            stack.enter_context(server(name, cmd, target_env, port, cwds[name]))
        for turn in range(args.rounds):  # the servers' order alternates from round to round
            order = list(ports.items()) if turn % 2 == 0 else list(ports.items())[::-1]
            for c in levels:
                for name, port in order:
                    if name.startswith("bentoml_enriched"):
                        continue  # its own case, below
                    sent = bodies.get(name, single_bodies)
                    res = load(port, "/v1/predict", sent, c, args.seconds)
                    rounds.setdefault((name, f"c{c}"), []).append(res)
                    row(name, f"predict c={c}", res)
                    if name in grpc_calls:
                        url, message = grpc_calls[name]
                        res = grpc_load(url, message, c, args.seconds, port)
                        rounds.setdefault((_grpc(name), f"c{c}"), []).append(res)
                        row(f"{name} gRPC", f"Predict c={c}", res)
        results.update({key: median(runs) for key, runs in rounds.items()})
        for turn in range(args.rounds):
            for name, port in ports.items() if turn % 2 == 0 else list(ports.items())[::-1]:
                if name == "bentoml_depends" or name.startswith("bentoml_enriched"):
                    continue  # single predictions only
                sent = batch_bodies_of.get(name, batch_bodies)
                res = load(port, "/v1/predict_batch", sent, args.workers * 2, args.seconds)
                rounds.setdefault((name, "batch"), []).append(res)
                row(name, f"batch x{args.batch_rows}", res, rows=args.batch_rows)
        results.update({k: median(runs) for k, runs in rounds.items() if k[1] == "batch"})
        for c in (1, 4):
            res = load(HTTP_PORT, "/v1/explain", single_bodies, c, args.seconds / 2)
            row("bentoml", f"explain c={c}", res)
        if "bentoml_enriched" in ports:
            c, seconds = max(levels), args.seconds
            enriched = enrichment_case.measure(ports, singles, c, seconds, args.rounds)
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
    met = _verdict(results, raw, levels, args.batch_rows)
    if args.baseline_tree:
        baseline.report(results, levels, rounds)
    if "bentoml_enriched" in ports:
        met = report(enrichment.verdict(enriched, max(levels))) and met
    return 1 if args.strict and not met else 0


def _grpc(name: str) -> str:
    """The results key of a server's gRPC scenarios (``grpc`` for the current service)."""
    return "grpc" if name == "bentoml" else f"{name}_grpc"


def _verdict(results: dict, raw: dict[str, float], levels: list[int], rows: int) -> bool:
    """Print the ratios against the floor and the targets; True when every target is met."""
    top = f"c{max(levels)}"
    bento, naive, lean, grpc = (results[n, top] for n in ("bentoml", "naive_fastapi",
                                                           "lean_floor", "grpc"))  # fmt: skip
    print(f"--- ratios at {top} (same run): REST/lean floor {bento.rps / lean.rps:.0%}, "
          f"gRPC/lean floor {grpc.rps / lean.rps:.0%}, gRPC/REST {grpc.rps / bento.rps:.2f}x, "
          f"REST/naive {bento.rps / max(naive.rps, 1e-9):.1f}x")  # fmt: skip
    for c in levels:
        b, f, g = (results[n, f"c{c}"] for n in ("bentoml", "lean_floor", "grpc"))
        print(f"    c={c:<3} REST {b.rps / f.rps:6.0%} of the floor, gRPC {g.rps / f.rps:6.0%}; "
              f"p99 REST {b.p99 * 1e3:.1f} ms, gRPC {g.p99 * 1e3:.1f} ms, "
              f"floor {f.p99 * 1e3:.1f} ms")  # fmt: skip
    batch_rows = results["bentoml", "batch"].rps * rows
    raw_rows = max(raw["records_threads1"], raw["records_threads0"])  # the better of the two
    errors = sum(r.errors for (n, _), r in results.items() if n in ("bentoml", "grpc"))
    targets = {
        f"/v1/predict at {top} >= half the lean floor: {bento.rps / lean.rps:.0%}":
            bento.rps >= 0.5 * lean.rps,
        f"/v1/predict p99 at {top} < 50 ms: {bento.p99 * 1e3:.1f} ms": bento.p99 < 0.050,
        f"gRPC Predict p99 at {top} < 50 ms: {grpc.p99 * 1e3:.1f} ms": grpc.p99 < 0.050,
        f"0 errors on the service (REST and gRPC): {errors}": errors == 0,
        f"REST >= 10x the naive app at {top}: {bento.rps / max(naive.rps, 1e-9):.1f}x":
            bento.rps >= 10 * naive.rps,
        f"batch rows/s >= 50% of the model's predict_proba_records: {batch_rows / raw_rows:.0%}":
            batch_rows >= 0.5 * raw_rows,
    }  # fmt: skip
    return report(targets)


if __name__ == "__main__":
    sys.exit(main())
