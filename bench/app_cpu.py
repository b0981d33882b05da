"""CPU per request of the whole REST app, in-process, against another checkout.

``bench/serve.py --baseline-tree`` answers with ``wrk`` over real sockets, where one round's
ratio moves by +-20% on this shared 2-core machine (the client, both workers and the
neighbours share the cores). This answers the narrower question "does a request cost more CPU
than before?" with much less noise: each checkout's own interpreter builds the service's real
ASGI app (``LoanDefaultService.to_asgi()``: BentoML's app with every middleware, the routes,
the scorer, the traffic log and the prediction index; gRPC off), runs its lifespan start-up,
and calls it directly with the same kind of request bodies, ``k`` calls per event-loop turn as
a loaded worker sees them. The figure is process CPU time per request, best of 5 repeats; the
checkouts alternate round by round and the report gives the median of the rounds' ratios.

What it leaves out, the same for both: uvicorn's HTTP parsing and the sockets. So a ratio here
is of the part of a request this project's code decides.

The ``grpc:`` scenarios do the same for the gRPC API, whose server-level figures are the
noisiest (``h2load`` and both workers on two cores): the worker's lifespan starts its gRPC
server as in production, the interceptors and handlers it registers are recorded, and each
call goes through them as ``grpc.aio`` would (interceptor chain, the method handler's
deserializer, the servicer, the serializer) with a minimal servicer context; HTTP/2 and the
gRPC core, the same library for both checkouts, are left out. ``--only rest|grpc`` runs one
half.

    git worktree add ../before <commit> && (cd ../before && make install)
    .venv/bin/python bench/app_cpu.py --baseline-tree ../before --rounds 3

The snippet runs in the other checkout's interpreter and uses only what every version has had
since the service had one: ``tests/runners/tiny_model.py``'s ``build`` and ``payloads`` and
``service.LoanDefaultService``; the ``grpc:`` scenarios also the generated
``loan_default.grpc.loan_scoring_pb2`` and the ``loan_default.v1.LoanScoring`` service name.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from baseline import interpreter, rounds_text

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import asyncio, itertools, json, os, sys, tempfile, time
home = tempfile.mkdtemp(prefix="bench-app-cpu-")
os.environ.update(BENTOML_HOME=home + "/bentoml", LOAN_HOME=home + "/home", OMP_NUM_THREADS="1",
                  LOAN_GRPC_ENABLED="false", LOAN_AUTH_MODE="off", LOAN_ENVIRONMENT="development",
                  LOAN_AUDIT_ENABLED="false", LOAN_MAX_BATCH_ROWS="10000")
sys.path.insert(0, os.getcwd())
import orjson
from tests.runners.tiny_model import build, payloads

route, k, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tag, _, frame = build(version="vappcpu")
os.environ["LOAN_MODEL_TAG"] = tag
rows = payloads(frame.drop(columns=["default"]).head(200))
if route.endswith("batch"):
    bodies = [orjson.dumps({"applications": (rows * 5)[:1000]})]
elif route.startswith("grpc:"):
    import socket

    from google.protobuf import json_format
    from loan_default.grpc import loan_scoring_pb2 as pb

    bodies = []
    for row in rows:
        request = pb.PredictRequest()
        json_format.ParseDict(row, request.application)
        bodies.append(request.SerializeToString())
    with socket.socket() as probe:  # a free port for the worker's gRPC server (never called)
        probe.bind(("127.0.0.1", 0))
        os.environ.update(LOAN_GRPC_ENABLED="true", LOAN_GRPC_HOST="127.0.0.1",
                          LOAN_GRPC_PORT=str(probe.getsockname()[1]))
else:
    bodies = [orjson.dumps(row) for row in rows]
import functools
import grpc
import grpc.aio

# What the worker registers on its gRPC server: its interceptors and handlers, recorded as
# it starts, so each call can go through them as the server would (no socket, no HTTP/2).
registered = {"interceptors": [], "handlers": []}
_real_server = grpc.aio.server


def _recording_server(*args, **kwargs):
    server = _real_server(*args, **kwargs)
    registered["interceptors"] = list(kwargs.get("interceptors") or ())
    add = server.add_generic_rpc_handlers

    def add_generic_rpc_handlers(handlers):
        registered["handlers"].extend(handlers)
        return add(handlers)

    server.add_generic_rpc_handlers = add_generic_rpc_handlers
    return server


grpc.aio.server = _recording_server
import service

app = service.LoanDefaultService.to_asgi()


class CallDetails:
    def __init__(self, method):
        self.method, self.invocation_metadata = method, ()


class Aborted(Exception):
    pass


class Context:  # the servicer context methods the service uses

    def __init__(self):
        self._code = None

    def invocation_metadata(self):
        return ()

    def set_trailing_metadata(self, metadata):
        pass

    def code(self):
        return self._code

    async def abort(self, code, details="", trailing_metadata=()):
        self._code = code
        raise Aborted(f"{code}: {details}")


def _query(details):
    for handler in registered["handlers"]:
        method_handler = handler.service(details)
        if method_handler is not None:
            return method_handler
    return None


async def _intercepted(interceptors, details):  # grpc.aio's chain (its _run_interceptor)
    interceptor = next(interceptors, None)
    if interceptor is None:
        return _query(details)
    continuation = functools.partial(_intercepted, interceptors)
    return await interceptor.intercept_service(continuation, details)


async def grpc_call(method, raw):
    details = CallDetails(method)
    interceptors = registered["interceptors"]
    handler = await _intercepted(iter(interceptors), details) if interceptors else _query(details)
    context = Context()
    try:
        response = await handler.unary_unary(handler.request_deserializer(raw), context)
    except Aborted as aborted:
        return str(aborted)
    handler.response_serializer(response)
    return 200


async def main():
    messages = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message):
        if message["type"] == "lifespan.startup.failed":
            raise SystemExit(message.get("message", "start-up failed"))
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.get_running_loop().create_task(app(lifespan, messages.get, lifespan_send))
    await started.wait()
    statuses = {}
    cycle = itertools.cycle(bodies)

    async def call(body):
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the client never disconnects
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        headers = [(b"host", b"127.0.0.1:3000"), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": route, "raw_path": route.encode(),
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 3000), "state": {}}
        await app(scope, receive, send)

    if route.startswith("grpc:"):
        method = f"/loan_default.v1.LoanScoring/{route[5:]}"

        async def call(body):
            status = await grpc_call(method, body)
            statuses[status] = statuses.get(status, 0) + 1

    async def turns(n):
        for _ in range(n):
            await asyncio.gather(*(call(next(cycle)) for _ in range(k)))

    await turns(max(1, calls // (5 * k)))  # warm-up
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        await turns(max(1, calls // k))
        best = min(best, (time.process_time() - start) / (max(1, calls // k) * k))
    print(json.dumps({"seconds_per_request": best, "statuses": statuses}))
    os._exit(0)  # the service's threads and the lifespan task need no orderly end here


try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
asyncio.run(main())
"""

SCENARIOS = (
    ("/v1/predict", 1, 2000),
    ("/v1/predict", 4, 4000),
    ("/v1/predict_batch", 1, 24),
    ("grpc:Predict", 1, 2000),
    ("grpc:Predict", 4, 4000),
)
"""(route, calls per event-loop turn, calls per repeat); ``grpc:`` a method of the gRPC API."""


def measure(tree: Path, route: str, k: int, calls: int) -> float:
    """CPU seconds per request of ``tree``'s app (its own interpreter and code)."""
    python = interpreter(tree)
    with tempfile.TemporaryDirectory(prefix="bench-app-cpu-") as tmp:
        out = subprocess.run(
            [str(python), "-c", _CHILD, route, str(k), str(calls)],
            cwd=tree, capture_output=True, text=True, check=False, timeout=600,
            env=os.environ | {"TMPDIR": tmp},
        )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: the measurement failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if set(result["statuses"]) != {"200"}:
        raise RuntimeError(f"{tree}: not every call answered 200: {result['statuses']}")
    return float(result["seconds_per_request"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-tree", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument(
        "--only", choices=("rest", "grpc"), help="the REST or the gRPC scenarios alone"
    )
    args = parser.parse_args()
    scenarios = [
        (route, k, calls)
        for route, k, calls in SCENARIOS
        if args.only is None or route.startswith("grpc:") == (args.only == "grpc")
    ]
    trees = {"now": ROOT, "before": args.baseline_tree.resolve()}
    ratios: dict[str, list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for route, k, calls in scenarios:
            name = f"{route} x{k}/turn"
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            got = {which: measure(trees[which], route, k, calls) for which in order}
            for which, seconds in got.items():
                cpu.setdefault((name, which), []).append(seconds)
            ratios.setdefault(name, []).append(got["now"] / got["before"])
            print(f"round {r + 1} {name:24} now {got['now'] * 1e6:8.1f} us  before "
                  f"{got['before'] * 1e6:8.1f} us  now/before {got['now'] / got['before']:.0%}",
                  flush=True)  # fmt: skip
    print(f"--- CPU per request, median of {args.rounds} rounds (<= 100%: no more CPU than before)")
    for name, values in ratios.items():
        now = statistics.median(cpu[name, "now"]) * 1e6
        before = statistics.median(cpu[name, "before"]) * 1e6
        print(f"    {name:24} {now:8.1f} vs {before:8.1f} us = {rounds_text(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
