"""Deadlines for reading request bodies, at no per-request timer.

A client that declares ``Content-Length: 1000`` and sends 10 bytes would hold a worker's
connection until the server's own timeout (~20 s measured). ``asyncio.timeout`` around each
read would end it, but arms and cancels a timer per request (a few microseconds, on calls of a
few hundred). Instead each read registers its task and deadline in a dict, and one sweep a
second, scheduled only while reads are pending, cancels the reads past their deadline: a slow
body ends within ``timeout`` + 1 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceededError(Exception):
    """The awaited read did not finish within its deadline."""


class Deadlines:
    """Cancel registered awaits that run past their deadline (per event loop)."""

    def __init__(self, *, sweep_seconds: float = 1.0) -> None:
        self.sweep_seconds = sweep_seconds
        self._pending: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, awaitable: Awaitable[T], timeout: float) -> T:
        """Await ``awaitable``; ``DeadlineExceededError`` once ``timeout`` seconds (up to one
        sweep more) have passed."""
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing to cancel
            return await awaitable
        loop = asyncio.get_running_loop()
        self._pending[task] = loop.time() + timeout
        if self._timer is None:
            self._timer = loop.call_later(self.sweep_seconds, self._sweep, loop)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            task.uncancel()
            raise DeadlineExceededError from None
        finally:
            self._pending.pop(task, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._pending.items()):
            if now >= deadline and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._timer = (
            loop.call_later(self.sweep_seconds, self._sweep, loop) if self._pending else None
        )


BODY_READS = Deadlines()
"""The one instance the HTTP routes share (each worker process has its own loop and copy)."""
