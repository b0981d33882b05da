"""Tables for people: rendered with rich in a terminal, full width when piped.

In a terminal the table fits the window (long cells wrap, identifiers marked ``keep`` never
do); piped or redirected, every row stays on one line however long, so ``grep`` and ``cut``
see whole values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 10_000
"""Console width when stdout is not a terminal: no row is ever wrapped or cut."""


def console() -> Console:
    """A console on stdout: the terminal's width, or :data:`PIPED_WIDTH` when piped."""
    out = Console()
    return out if out.is_terminal else Console(width=PIPED_WIDTH)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    keep: Collection[str] = (),
    caption: str | None = None,
) -> None:
    """Print ``rows`` under ``columns``; cells of the ``keep`` columns are never wrapped."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption=caption, caption_justify="left")
    for name in columns:
        table.add_column(name, no_wrap=name in keep, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console().print(table)
