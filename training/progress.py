"""Progress bars (rich) for the long steps, and stage messages; silent with ``--quiet``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    """One bar per task (a candidate's search or its folds); no output when ``quiet``."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self._bars: RichProgress | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if not self.quiet:
            self._bars = RichProgress(
                TextColumn("{task.description:<32}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._bars.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is not None:
            self._bars.__exit__(exc_type, exc, tb)
            self._bars = None

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[], None]]:
        """A bar of ``total`` steps; yields the thread-safe function that advances it."""
        bars = self._bars
        if bars is None:
            yield lambda: None
            return
        task_id = bars.add_task(description, total=total)

        def advance() -> None:
            with self._lock:
                bars.advance(task_id)

        try:
            yield advance
        finally:
            done = next(t.completed for t in bars.tasks if t.id == task_id)
            bars.update(task_id, total=done)

    def say(self, message: str) -> None:
        """A stage message on stderr (not in quiet mode)."""
        if not self.quiet:
            self.console.print(message, highlight=False)
