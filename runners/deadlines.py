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
        with self.within(timeout):
            return await awaitable

    def within(self, timeout: float) -> _Within:
        """``with deadlines.within(5.0): await ...``: the awaits inside end with
        ``DeadlineExceededError`` once ``timeout`` seconds (up to one sweep more) have passed.
        A plain context manager: no coroutine wraps the awaits (a call of a few hundred
        microseconds feels a wrapper's few)."""
        return _Within(self, timeout)

    def _enter(self, task: asyncio.Task[object], timeout: float) -> None:
        loop = task.get_loop()
        self._pending[task] = loop.time() + timeout
        if self._timer is None:
            self._timer = loop.call_later(self.sweep_seconds, self._sweep, loop)

    def _exit(self, task: asyncio.Task[object], cancelled: bool) -> bool:
        """Forget ``task``; True when its cancellation was this deadline's (to be reported)."""
        self._pending.pop(task, None)
        if cancelled and task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._pending.items()):
            if now >= deadline and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._timer = (
            loop.call_later(self.sweep_seconds, self._sweep, loop) if self._pending else None
        )


class _Within:
    """The context of :meth:`Deadlines.within` (outside a task: no deadline)."""

    __slots__ = ("_deadlines", "_task", "_timeout")

    def __init__(self, deadlines: Deadlines, timeout: float) -> None:
        self._deadlines = deadlines
        self._timeout = timeout
        self._task: asyncio.Task[object] | None = None

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        if self._task is not None:
            self._deadlines._enter(self._task, self._timeout)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._task is not None:
            cancelled = kind is not None and issubclass(kind, asyncio.CancelledError)
            if self._deadlines._exit(self._task, cancelled):
                raise DeadlineExceededError from None


BODY_READS = Deadlines()
"""The one instance the HTTP routes share (each worker process has its own loop and copy)."""
