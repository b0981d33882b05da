"""CPU time per call for the in-process micro-benchmarks (``bench/reasons.py``,
``bench/scorecard.py``): process time, so other tenants of a shared machine count less."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def per_call(
    fn: Callable[[], Any], seconds: float, *, clock: Callable[[], float] = time.process_time
) -> float:
    """Best mean seconds per call of ``fn`` over 5 repeats of about ``seconds / 5`` each, on
    ``clock`` (CPU time by default; ``time.perf_counter`` where waiting is the cost)."""
    best = float("inf")
    for _ in range(5):
        calls, start = 0, clock()
        while clock() - start < seconds / 5:
            fn()
            calls += 1
        best = min(best, (clock() - start) / calls)
    return best
