"""``loanctl pipeline run|serve``: the daily ingestion -> validation -> training flow.

``run`` executes it once, here, recorded by Prefect's local API (no server needed).
``serve`` keeps it on a daily schedule; schedules need a long-lived Prefect server, because
Prefect's local (ephemeral) API runs no scheduler: start one with ``prefect server start``
and set ``PREFECT_API_URL``. See docs/orchestration.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

DataOption = Annotated[Path, typer.Option("--data", help="The day's data file (CSV/TSV/Parquet).")]
SourceOption = Annotated[
    str | None, typer.Option("--source", help="Source mapping of the file, e.g. home_credit.")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Training config (default configs/training.yaml).")
]


@app.command("run")
def run(
    data: DataOption,
    source: SourceOption = None,
    config: ConfigOption = None,
    reason: Annotated[str, typer.Option(help="Why this run happens.")] = "manual",
) -> None:
    """Run the flow once: ingest, validate, train a challenger."""
    from loanctl.flows import run_pipeline

    result = run_pipeline(data, source=source, config=config, reason=reason)
    typer.echo(
        f"ingested {result.rows:,} valid rows ({result.rows_quarantined:,} quarantined, hash "
        f"{result.data_hash[:12]}) from {result.canonical}\n"
        f"registered {result.bento_tag} = MLflow loan_default v{result.mlflow_version} "
        "(alias challenger; promote with `loanctl models promote`)"
    )


@app.command("serve")
def serve(
    data: DataOption,
    source: SourceOption = None,
    config: ConfigOption = None,
    cron: Annotated[str, typer.Option(help="Schedule (UTC), cron syntax.")] = "0 2 * * *",
) -> None:
    """Keep the flow deployed on a schedule (daily at 02:00 UTC) until stopped."""
    import os

    from loan_default.errors import ConfigError
    from loanctl.flows import daily_pipeline

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "schedules need a Prefect server: start `prefect server start --host 127.0.0.1` "
            "and set PREFECT_API_URL=http://127.0.0.1:4200/api (or run `loanctl pipeline run` "
            "from cron)"
        )
    parameters = {"data": str(data), "source": source, "config": config and str(config)}
    daily_pipeline.serve(name="daily", cron=cron, parameters=parameters)
