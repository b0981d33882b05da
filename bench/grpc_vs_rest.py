"""gRPC against REST on the same ``bentoml serve``: one application, concurrency, batches.

Usage::

    .venv/bin/python bench/grpc_vs_rest.py [--seconds 6] [--model-tag loan_default:<version>]

Starts ``bentoml serve service:LoanDefaultService`` on 127.0.0.1 (HTTP 3250, gRPC 3251), with
the given model or a small LightGBM trained into a temporary Bento store, and measures both
protocols with the same applications, each scenario bounded by ``--seconds``: single
applications at concurrency 1 and 16, and 1,000-row batches. REST is the baseline; the last
column is gRPC / REST. Client and server share the machine's cores, so absolute numbers are a
floor; the ratios are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HTTP_PORT, GRPC_PORT = 3250, 3251


@contextmanager
def served(model_tag: str, env: dict[str, str]) -> Iterator[None]:
    """``bentoml serve`` in its own process group until the block ends (``bench/servers.py``)."""
    from servers import BENTOML, server

    command = [BENTOML, "serve", "service:LoanDefaultService", "--host", "127.0.0.1"]
    env = env | {"LOAN_MODEL_TAG": model_tag, "LOAN_GRPC_PORT": str(GRPC_PORT)}
    with server("grpc-vs-rest", [*command, "--port", str(HTTP_PORT)], env, HTTP_PORT,
                start_timeout=180):  # fmt: skip
        yield


def _train(env: dict[str, str]) -> str:
    os.environ.update(env)
    from loan_default.store import ModelMetadata, new_version, save_model
    from tests.runners.grpc.grpc_backend import train_tiny_model

    model = train_tiny_model(5_000)
    metadata = ModelMetadata(
        version=new_version(), algorithm=model.algorithm, created_at=datetime.now(UTC),
        feature_names=model.feature_names, data_hash="bench", data_rows=5_000, seed=0,
    )  # fmt: skip
    save_model(model, metadata)
    return metadata.tag


def _sequential(call: Callable[[int], Any], seconds: float) -> list[float]:
    latencies, i, end = [], 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - start)
        i += 1
    return latencies


async def _concurrent(call: Callable[[int], Awaitable[Any]], seconds: float, n: int) -> int:
    done = 0
    end = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < end:
            await call(i)
            done += 1
            i += n

    await asyncio.gather(*(worker(k) for k in range(n)))
    return done


def _report(name: str, unit: str, rest: float, grpc_value: float) -> None:
    print(f"{name:<34} {unit:<8} {rest:>10.1f} {grpc_value:>10.1f} {grpc_value / rest:>8.2f}")


def run(seconds: float) -> None:
    import grpc
    import httpx
    import orjson

    from loan_default.data.generate import generate_applications
    from loan_default.grpc import loan_scoring_pb2 as pb
    from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
    from loan_default.grpc.client import LoanScoringClient
    from loan_default.grpc.messages import application_from_dict
    from tests.runners.grpc.grpc_backend import to_requests

    singles = to_requests(generate_applications(500, seed=1))
    batch = to_requests(generate_applications(1_000, seed=2))
    url = f"http://127.0.0.1:{HTTP_PORT}/v1"
    target = f"127.0.0.1:{GRPC_PORT}"
    print(f"{'scenario':<34} {'unit':<8} {'REST':>10} {'gRPC':>10} {'gRPC/REST':>8}")

    with httpx.Client(timeout=60) as http, LoanScoringClient(target, timeout=60) as client:
        client.wait_ready()
        for _ in range(20):  # warm both paths and both workers
            http.post(f"{url}/predict", json=singles[0])
            client.predict(singles[0])
        rest = _sequential(lambda i: http.post(f"{url}/predict", json=singles[i % 500]), seconds)
        over = _sequential(lambda i: client.predict(singles[i % 500]), seconds)
        _report("single, concurrency 1", "req/s", len(rest) / sum(rest), len(over) / sum(over))
        for q in (50, 99):
            r = statistics.quantiles(rest, n=100)[q - 1] * 1e3
            g = statistics.quantiles(over, n=100)[q - 1] * 1e3
            _report(f"single, concurrency 1, p{q}", "ms", r, g)
        body = {"applications": batch}
        rest = _sequential(lambda i: http.post(f"{url}/predict_batch", json=body), seconds)
        over = _sequential(lambda i: client.predict_batch(batch), seconds)
        _report("batch of 1,000, concurrency 1", "rows/s", 1e3 / statistics.mean(rest),
                1e3 / statistics.mean(over))  # fmt: skip

    bodies = [orjson.dumps(a) for a in singles]
    messages = [pb.PredictRequest(application=application_from_dict(a)) for a in singles]

    async def concurrent() -> tuple[int, int]:
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(timeout=60) as http_async:

            async def rest_call(i: int) -> None:
                await http_async.post(f"{url}/predict", content=bodies[i % 500], headers=headers)

            rest_done = await _concurrent(rest_call, seconds, 16)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.LoanScoringStub(channel)

            async def grpc_call(i: int) -> None:
                await stub.Predict(messages[i % 500])

            grpc_done = await _concurrent(grpc_call, seconds, 16)
        return rest_done, grpc_done

    rest_done, grpc_done = asyncio.run(concurrent())
    _report("single, concurrency 16", "req/s", rest_done / seconds, grpc_done / seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each scenario")
    parser.add_argument("--model-tag", help="serve this model (default: train a small one)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    env = dict(os.environ)
    if not args.model_tag:
        env |= {"LOAN_HOME": str(home), "BENTOML_HOME": str(home / "bentoml")}
    env |= {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": f"sqlite:///{home}/m.db"}
    # The protocols alone, as bench/serve.py measures them: no token checks nor audit
    # (bench/security.py measures what the two add).
    env |= {"LOAN_AUTH_MODE": "off", "LOAN_ENVIRONMENT": "development"}
    env["LOAN_AUDIT_ENABLED"] = "false"
    tag = args.model_tag or _train(env)
    with served(tag, env):
        run(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
