"""``loanctl data``: import, generate, validate and hash data sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Argument(help="Output file: .parquet, .csv or .csv.gz.")],
    rows: Annotated[int, typer.Option(min=1, help="Number of applications.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    shift: Annotated[
        str,
        typer.Option(
            help="Population shift preset for monitoring demos: none, income_drop, younger, "
            "score_shift, credit_growth, missing_scores, default_surge."
        ),
    ] = "none",
    end: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of the application window (UTC)."),
    ] = None,
    months: Annotated[int, typer.Option(min=1, help="Length of the application window.")] = 6,
) -> None:
    """Write synthetic applications in the canonical schema, with a known default mechanism."""
    import time

    from loan_default.errors import InputError
    from loan_default.generate import DEFAULT_PERIOD_END, generate_applications
    from loan_default.io import write_table

    if not out.name.endswith((".parquet", ".csv", ".csv.gz")):
        raise InputError(f"{out}: the output must end in .parquet, .csv or .csv.gz")
    period_end = DEFAULT_PERIOD_END if end is None else end.replace(tzinfo=UTC) + timedelta(days=1)
    started = time.perf_counter()
    frame = generate_applications(
        rows, seed=seed, shift=shift, period_end=period_end, months=months
    )
    generated = time.perf_counter() - started
    write_table(frame, out)
    written = time.perf_counter() - started - generated
    typer.echo(
        f"{out}: {len(frame):,} applications (seed {seed}, shift {shift}), "
        f"default rate {frame['default'].mean():.2%}; generated in {generated:.2f} s, "
        f"written in {written:.2f} s"
    )
