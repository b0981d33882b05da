"""The enrichment case of ``bench/serve.py``: ``/v1/predict`` with a feature store on vs off.

Both servers get the same bodies: applications carrying a ``client_id`` and none of the bureau
fields (the fields a store holds: ``score_source_1..3``, ``social_circle_default``,
``credit_bureau``). The server with ``LOAN_FEATURE_STORE=memory:<file>`` finds every client
and fills those five fields; the other scores the applications as sent. So the difference is
what enrichment costs a request: the lookup (a thread hop per event-loop turn), the fill, the
stored values' validation and the longer answer and traffic-log line.

A third server reads the same file through a store that says it blocks
(:class:`BlockingFileLookup`, through ``LOAN_FEATURE_STORE_FEAST_FACTORY``): the path a network
store such as Feast's takes (a thread per event-loop turn, a timer), without the network.
The servers are measured alternately (off, memory, thread, then thread, memory, off, for
``--rounds`` rounds, at least two) so a shift in the shared machine's load falls on all; the
ratios of the medians are the result.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from loan_default.enrichment import InMemoryLookup

if TYPE_CHECKING:
    from loadgen import LoadResult

BUREAU = ("score_source_1", "score_source_2", "score_source_3", "social_circle_default",
          "credit_bureau")  # fmt: skip
TARGET_RPS_LOSS = 0.10
TARGET_ADDED_P50 = 0.001


def keyed(singles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The applications with a client key each and without their bureau fields."""
    return [
        {**{k: v for k, v in app.items() if k not in BUREAU}, "client_id": f"CLI-{i:06d}"}
        for i, app in enumerate(singles)
    ]


def write_store(singles: list[dict[str, Any]], path: Path) -> Path:
    """A ``.jsonl`` feature store holding every client's bureau fields (a week old)."""
    as_of = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    with path.open("wb") as out:
        for i, app in enumerate(singles):
            row = {"client_id": f"CLI-{i:06d}", "event_timestamp": as_of}
            row.update({k: app[k] for k in BUREAU if app.get(k) is not None})
            out.write(orjson.dumps(row) + b"\n")
    return path


class BlockingFileLookup(InMemoryLookup):
    """The in-memory store of a file, called as a blocking store is (in a thread)."""

    blocking = True

    def __init__(self, path: Path) -> None:
        super().__init__(InMemoryLookup.from_file(Path(path))._entries)


def verdict(runs: dict[str, list[LoadResult]], concurrency: int) -> dict[str, bool]:
    """Print each store's comparison with no store (medians of the alternated runs); the
    targets, each with whether it was met."""
    off = runs["off"]
    rps_off = statistics.median(r.rps for r in off)
    p50_off = statistics.median(r.p50 for r in off)
    targets: dict[str, bool] = {}
    for name, on in runs.items():
        if name == "off":
            continue
        rps_on = statistics.median(r.rps for r in on)
        p50_on = statistics.median(r.p50 for r in on)
        loss = 1 - rps_on / rps_off
        added = p50_on - p50_off
        print(
            f"--- enrichment ({name}) at c={concurrency}, same run, alternated: "
            f"{rps_on:,.0f} vs {rps_off:,.0f} req/s = {rps_on / rps_off:.1%} "
            f"({loss:+.1%} fewer); p50 {p50_on * 1e3:.2f} vs {p50_off * 1e3:.2f} ms "
            f"({added * 1e3:+.2f} ms)"
        )
        targets |= {
            f"enrichment ({name}) costs <= {TARGET_RPS_LOSS:.0%} of req/s: {loss:.1%}":
                loss <= TARGET_RPS_LOSS,
            f"enrichment ({name}) adds < 1 ms at p50: {added * 1e3:+.2f} ms":
                added < TARGET_ADDED_P50,
        }  # fmt: skip
    return targets
