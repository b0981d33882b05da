"""Load from C clients: ``wrk`` for HTTP/1.1, ``h2load`` (nghttp2) for gRPC unary calls.

A load generator written in Python saturates near 3,800 req/s on a 2-core machine, below what
the lean floor answers, so it would measure itself. Both tools run closed-loop: ``concurrency``
keep-alive connections, each sending its next request when the last answer has arrived.

* ``wrk`` rotates through the given request bodies (a Lua script reads them from a file, one a
  line) and reports requests, socket errors, non-2xx/3xx answers and latency percentiles from
  its ``done`` hook as one JSON line.
* ``h2load`` sends one length-prefixed protobuf message as the body of every gRPC call (gRPC over
  HTTP/2 cleartext: ``content-type: application/grpc``, ``te: trailers``). It sees HTTP statuses
  only, not the ``grpc-status`` trailer, so the caller counts gRPC failures another way
  (``bench/serve.py`` reads the server's ``grpc_server_handled_total``). Latency percentiles
  come from its per-request log.

Each run is preceded by a one-second warm-up run whose figures are discarded.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_WRK_SCRIPT = r"""
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, line)
  end
  i = math.random(#bodies)
end
request = function()
  i = i % #bodies + 1
  return bodies[i]
end
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    s.requests, s.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class LoadToolMissingError(RuntimeError):
    """``wrk`` or ``h2load`` is not installed (``make bench-serve`` installs both)."""


@dataclass(frozen=True)
class LoadResult:
    """Outcome of one scenario: completed requests, failures and latency percentiles."""

    requests: int
    seconds: float
    errors: int
    p50: float
    p99: float
    detail: str = ""

    @property
    def rps(self) -> float:
        """Completed requests per second (failures included, as the tools count them)."""
        return self.requests / self.seconds if self.seconds else 0.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LoadToolMissingError(f"{name} not found: run `make bench-serve` (it installs it)")
    return path


def wrk(
    url: str, bodies: list[bytes], *, concurrency: int, seconds: float, warmup: float = 1.0
) -> LoadResult:
    """POST the ``bodies`` (JSON, no newlines) in turn to ``url`` with ``wrk -t1``."""
    exe = _tool("wrk")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, data = Path(tmp, "rotate.lua"), Path(tmp, "bodies.jsonl")
        script.write_text(_WRK_SCRIPT)
        data.write_bytes(b"\n".join(bodies) + b"\n")

        def run(duration: float) -> dict[str, int]:
            out = subprocess.run(
                [exe, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout",
                 "10s", "-s", str(script), url, "--", str(data)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            line = next(x for x in out.splitlines() if x.startswith("BENCH "))
            parsed: dict[str, int] = json.loads(line[6:])
            return parsed

        if warmup > 0:
            run(warmup)
        r = run(seconds)
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    detail = ", ".join(
        f"{k} {r[k]}" for k in ("status", "connect", "read", "write", "timeout") if r[k]
    )
    return LoadResult(
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        errors=errors,
        p50=r["p50_us"] / 1e6,
        p99=r["p99_us"] / 1e6,
        detail=detail,
    )


def grpc_frame(message: bytes) -> bytes:
    """One uncompressed gRPC length-prefixed message (flag byte, big-endian length, payload)."""
    return struct.pack(">BI", 0, len(message)) + message


def h2load_grpc(
    url: str, message: bytes, *, concurrency: int, seconds: float, warmup: float = 1.0
) -> LoadResult:
    """Unary gRPC calls (``url`` = ``http://host:port/package.Service/Method``) with h2load.

    One stream at a time per connection (``-m 1``), ``concurrency`` connections: the same
    closed loop as ``wrk`` gives REST. ``errors`` counts failed streams and non-200 answers.
    """
    exe = _tool("h2load")
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        data, log = Path(tmp, "request.bin"), Path(tmp, "requests.log")
        data.write_bytes(grpc_frame(message))

        def run(duration: float) -> tuple[str, list[tuple[int, int]]]:
            log.unlink(missing_ok=True)
            out = subprocess.run(
                [exe, "-t1", f"-c{concurrency}", "-m1", "-D", str(max(1, round(duration))),
                 "-d", str(data), "-H", "content-type: application/grpc", "-H", "te: trailers",
                 "--log-file", str(log), url],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            rows = []
            for line in log.read_text().splitlines():
                _, status, elapsed = line.split("\t")[:3]
                rows.append((int(status), int(elapsed)))
            return out, rows

        if warmup > 0:
            run(warmup)
        out, rows = run(seconds)
    finished = re.search(r"finished in ([\d.]+)(m?s)", out)
    if finished is None or not rows:
        raise RuntimeError(f"h2load gave no result:\n{out}")
    took = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    counts = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    failed = sum(int(x) for x in counts.groups()[1:]) if counts else 0
    bad_status = sum(1 for status, _ in rows if status != 200)
    latencies = sorted(us / 1e6 for _, us in rows)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(rows) > 1 else [0] * 99
    return LoadResult(
        requests=len(rows),
        seconds=took,
        errors=max(failed, bad_status),  # failed streams are logged with status -1
        p50=q[49],
        p99=q[98],
        detail=f"streams failed {failed}, non-200 {bad_status}" if failed or bad_status else "",
    )
