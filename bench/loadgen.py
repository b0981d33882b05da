"""A small closed-loop HTTP/1.1 load generator on raw asyncio sockets (127.0.0.1 only).

``concurrency`` keep-alive connections each send one request, wait for the whole response and
send the next, for ``seconds``; a response with ``Connection: close`` makes that client open a
new connection for its next request (inside that request's measured latency). Raw sockets
instead of httpx: the client must not be the limit, and ``bench/serve.py`` checks that by also
measuring the lean floor server in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Outcome of one scenario."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    reconnects: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 10) - 1]


def _request(path: str, body: bytes, host: str, port: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection after this response)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif key == b"connection" and b"close" in value.lower():
            close = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, close


async def run_load(
    port: int,
    path: str,
    bodies: list[bytes],
    *,
    concurrency: int,
    seconds: float,
    host: str = "127.0.0.1",
    warmup: float = 1.0,
) -> LoadResult:
    """Closed-loop load; latencies of the measured window (after ``warmup``) in seconds."""
    requests = [_request(path, b, host, port) for b in bodies]
    result = LoadResult()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        connected = True
        i = offset
        try:
            while (now := time.perf_counter()) < stop_at:
                if not connected:  # the server closed the last one: reconnect, on the clock
                    reader, writer = await asyncio.open_connection(host, port)
                    connected = True
                    result.reconnects += 1
                writer.write(requests[i % len(requests)])
                i += 1
                try:
                    status, close = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    status, close = 599, True  # the server dropped the connection: an error
                done = time.perf_counter()
                if close:  # as an HTTP/1.1 client must: the next request on a new connection
                    writer.close()
                    connected = False
                if now >= measure_from:
                    result.requests += 1
                    result.latencies.append(done - now)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status != 200:
                        result.errors += 1
        finally:
            writer.close()

    # The client's own garbage collections (this process may hold a trained model and a
    # DataFrame) would pause all its connections at once and show up as server latency.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(worker(k * 7919) for k in range(concurrency)))
    finally:
        gc.enable()
    result.seconds = seconds
    return result
