"""Prometheus metrics of the gRPC API, served by BentoML's ``/metrics`` with the service's own.

BentoML's request metrics see only HTTP, so without these a dashboard or an alert would miss
every gRPC call. The names and labels are the ones of the gRPC ecosystem's Prometheus
middleware (``grpc_server_handled_total``, ``grpc_server_handling_seconds``), so existing
dashboards and alert rules apply: e.g. the error ratio is
``sum(rate(grpc_server_handled_total{grpc_code!="OK"}[5m])) /
sum(rate(grpc_server_handled_total[5m]))``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from prometheus_client import Counter, Histogram

HANDLED = Counter(
    "grpc_server_handled_total",
    "gRPC calls completed, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time to answer a gRPC call (conversion, validation, scoring, traffic log), by method.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

S = TypeVar("S")
Q = TypeVar("Q")
R = TypeVar("R")
Handler = Callable[[S, Q, Any], Awaitable[R]]


def observed(service: str) -> Callable[[Handler[S, Q, R]], Handler[S, Q, R]]:
    """Decorate a servicer method: count it by status code and time it."""

    def decorate(rpc: Handler[S, Q, R]) -> Handler[S, Q, R]:
        method = rpc.__name__
        # The labelled series, looked up once (a lookup costs a few microseconds a call).
        handling = HANDLING.labels(service, method)
        handled: dict[grpc.StatusCode, Any] = {}  # by status code, made at its first use

        @functools.wraps(rpc)
        async def wrapper(self: S, request: Q, context: Any) -> R:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await rpc(self, request, context)
            except asyncio.CancelledError:  # the client went away or its deadline passed
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                # An abort has set the context's code; anything else is UNKNOWN to the client.
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                counter = handled.get(code)
                if counter is None:
                    counter = handled[code] = HANDLED.labels(service, method, code.name)
                counter.inc()
                handling.observe(time.perf_counter() - start)

        return wrapper

    return decorate
