"""CPU time per call for the in-process micro-benchmarks (``bench/reasons.py``,
``bench/scorecard.py``): process time, so other tenants of a shared machine count less."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Best mean CPU seconds per call of ``fn`` over 5 repeats of about ``seconds / 5`` each."""
    best = float("inf")
    for _ in range(5):
        calls, start = 0, time.process_time()
        while time.process_time() - start < seconds / 5:
            fn()
            calls += 1
        best = min(best, (time.process_time() - start) / calls)
    return best
