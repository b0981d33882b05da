"""``loanctl train``, ``loanctl predict`` and ``loanctl models list|promote|rollback``.

Heavy modules (scikit-learn, MLflow, BentoML) are imported inside the commands, so
``loanctl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

models_app = typer.Typer(
    help="The registry: both stores side by side, promotion and rollback.",
    no_args_is_help=True,
)


def train(
    data: Annotated[Path, typer.Option("--data", help="Training data file (CSV/TSV/Parquet).")],
    source: Annotated[
        str | None, typer.Option("--source", help="Source mapping of the file, e.g. home_credit.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training config (default configs/training.yaml)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why this run happens (recorded in MLflow).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars (CI).")] = False,
) -> None:
    """Validate the data, compare the candidates by CV, calibrate and register a challenger."""
    from training.config import TrainingConfig
    from training.pipeline import run_training
    from training.reports import markdown
    from training.selection import RULE

    cfg = TrainingConfig.load(config)  # a bad config fails before the data is read
    result = run_training(data, source=source, config=cfg, reason=reason, quiet=quiet)
    typer.echo(markdown(result.table, RULE))
    cv_auc = result.metrics.cv["roc_auc"]
    holdout = result.metrics.holdout.get("roc_auc")
    typer.echo(
        f"champion {result.champion}: CV ROC AUC {cv_auc.mean:.4f} ± {cv_auc.std or 0:.4f}"
        + (f", hold-out {holdout:.4f}" if holdout is not None else "")
    )
    typer.echo(
        f"registered {result.bento_tag} = MLflow loan_default v{result.mlflow_version} "
        f"(alias challenger); report in {result.run_dir}"
    )


def predict(
    data: Annotated[Path, typer.Option("--data", help="Applications to score.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    source: Annotated[str | None, typer.Option("--source", help="Source mapping.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="MLflow version, alias or Bento tag (default: champion)."),
    ] = None,
) -> None:
    """Score a whole file with a registered model; invalid rows go to a quarantine file."""
    from training.predict import predict_file

    result = predict_file(data, out=out, source=source, model=model)
    typer.echo(f"scored {result.rows:,} rows with {result.bento_tag} -> {result.out}")
    if result.quarantined:
        typer.echo(
            f"{result.quarantined:,} rows failed validation and were not scored: "
            f"{result.quarantine_path}"
        )


@models_app.command("list")
def list_models() -> None:
    """Registered models: MLflow version, aliases, Bento tag, created, CV AUC, data hash."""
    from rich.console import Console
    from rich.table import Table

    from training.registry import list_models as rows

    table = Table("MLflow", "aliases", "Bento tag", "created", "CV AUC", "data hash")
    for row in rows():
        table.add_row(
            row.mlflow_version or "-",
            ", ".join(row.aliases) or "-",
            (row.bento_tag or "-") + ("" if row.in_bento_store else " (not in store)"),
            row.created,
            "-" if row.roc_auc is None else f"{row.roc_auc:.4f}",
            (row.data_hash or "-")[:12],
        )
    console = Console()
    if not console.is_terminal:  # piped or in CI: do not squeeze the tags into 80 columns
        console = Console(width=160)
    console.print(table)


@models_app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="MLflow version number or Bento tag.")],
) -> None:
    """Move the champion alias to VERSION (the replaced champion becomes previous-champion)."""
    from training.registry import promote as do_promote

    typer.echo(f"champion is now {do_promote(version)}")


@models_app.command("rollback")
def rollback() -> None:
    """Give the champion alias back to the previous champion."""
    from training.registry import rollback as do_rollback

    typer.echo(f"champion is now {do_rollback()}")


def register(app: typer.Typer) -> None:
    """Add the training commands to ``loanctl``."""
    app.command("train")(train)
    app.command("predict")(predict)
    app.add_typer(models_app, name="models")
