"""``loanctl train`` and ``loanctl predict``; the ``loanctl models`` group (its governance
commands are wired in ``loanctl.models_cli``).

Heavy modules (scikit-learn, MLflow, BentoML) are imported inside the commands, so
``loanctl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

models_app = typer.Typer(
    help="The registry: inventory, approvals, waivers, gated promotion and rollback.",
    no_args_is_help=True,
)


CLUSTER_HELP = "Dask cluster: 'local' or a scheduler address (default: LOAN_CLUSTER, else none)."


def train(
    data: Annotated[
        Path, typer.Option("--data", help="Training data (CSV/TSV/Parquet; --cluster: Parquet).")
    ],
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Show the libraries' logs and warnings (always kept in "
            "the run folder's library.log).",
        ),
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help=CLUSTER_HELP + " Needs a Parquet data set."),
    ] = None,
    sample_rows: Annotated[
        int,
        typer.Option(
            "--sample-rows", min=1000, help="--cluster: rows of the in-memory sample (see docs)."
        ),
    ] = 200_000,
) -> None:
    """Validate the data, compare the candidates by CV, calibrate and register a challenger.

    --cluster: LightGBM on all rows with lightgbm.dask, the others on a sample (docs/scale.md).
    """
    from loan_default.cluster import resolve
    from loan_default.console import print_table
    from loan_default.security.cli import cli_principal
    from training.config import TrainingConfig
    from training.pipeline import run_training
    from training.reports import COMPARISON_HEAD, comparison_cells

    cli_principal("cli.train")
    from training.selection import RULE

    cfg = TrainingConfig.load(config)  # a bad config fails before the data is read
    settings = resolve(cluster)
    if settings.cluster is not None:
        from training.scale_pipeline import run_training_on_cluster

        result = run_training_on_cluster(
            data, cluster=settings, source=source, config=cfg, reason=reason, quiet=quiet,
            sample_rows=sample_rows,
        )  # fmt: skip
    else:
        result = run_training(
            data, source=source, config=cfg, reason=reason, quiet=quiet, verbose=verbose
        )
    print_table(
        COMPARISON_HEAD,
        comparison_cells(result.table, bold="[bold]"),
        keep={"candidate"},
        caption=f"Champion rule: {RULE}",
    )
    cv_auc = result.metrics.cv["roc_auc"]
    holdout = result.metrics.holdout.get("roc_auc")
    typer.echo(
        f"champion {result.champion}: CV ROC AUC {cv_auc.mean:.4f} ± {cv_auc.std or 0:.4f}"
        + (f", hold-out {holdout:.4f}" if holdout is not None else "")
    )
    typer.echo(
        f"model fitted on {result.fitted_rows:,} labelled rows "
        + ("(training + hold-out)" if result.fitted_on == "all_rows" else "(hold-out kept out)")
    )
    typer.echo(
        f"registered {result.bento_tag} = MLflow loan_default v{result.mlflow_version} "
        f"(alias challenger); report in {result.run_dir}"
    )


def predict(
    data: Annotated[
        Path, typer.Option("--data", help="Applications: a Parquet file or folder, or a CSV.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Parquet input: a folder of output parts. Otherwise a file whose ending picks "
            "the format: .parquet, .csv, .csv.gz, .tsv (anything else is refused).",
        ),
    ],
    source: Annotated[str | None, typer.Option("--source", help="Source mapping.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="MLflow version, alias or Bento tag (default: champion)."),
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help=CLUSTER_HELP)] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per partition at most (Parquet).")
    ] = 100_000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Score applications with a registered model; invalid rows go to a quarantine file.

    Parquet file or folder: partition by partition, streamed or on Dask (--cluster). CSV: whole.
    """
    from loan_default.cluster import resolve
    from loan_default.errors import InputError
    from loan_default.partitions import is_parquet

    settings = resolve(cluster)
    if is_parquet(data):
        from training.portfolio import predict_dataset

        done = predict_dataset(data, out=out, source=source, model=model, cluster=settings,
                               batch_rows=batch_rows, quiet=quiet)  # fmt: skip
        typer.echo(
            f"scored {done.scored:,} of {done.rows_in:,} rows in {done.partitions} partitions "
            f"({done.where}, {done.rows_per_second:,.0f} rows/s) with {done.bento_tag} -> "
            f"{done.out}"
        )
        if done.quarantined:
            typer.echo(
                f"{done.quarantined:,} rows failed validation and were not scored: "
                f"{done.out / 'quarantine'}"
            )
        return
    if settings.cluster is not None:
        raise InputError(f"{data}: --cluster scores Parquet data sets; convert the file first")
    from training.predict import predict_file

    result = predict_file(data, out=out, source=source, model=model)
    typer.echo(f"scored {result.rows:,} rows with {result.bento_tag} -> {result.out}")
    if result.quarantined:
        typer.echo(
            f"{result.quarantined:,} rows failed validation and were not scored: "
            f"{result.quarantine_path}"
        )


@models_app.command("card")
def card(
    version: Annotated[str, typer.Argument(help="MLflow version number, alias or Bento tag.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write into (default: <home>/cards).")
    ] = None,
) -> None:
    """Write the model card (Markdown and HTML) of VERSION: purpose, data, design, performance,
    calibration, fairness at the decision, reason codes, limitations, approvals, lineage."""
    from loan_default.security.cli import cli_principal
    from loan_default.settings import LoanSettings
    from training.card_facts import write_model_card

    cli_principal("cli.models.card")
    md, html = write_model_card(version, out or LoanSettings().home / "cards")
    typer.echo(f"model card: {md}")
    typer.echo(f"model card: {html}")


def register(app: typer.Typer) -> None:
    """Add the training commands to ``loanctl``."""
    app.command("train")(train)
    app.command("predict")(predict)
    app.add_typer(models_app, name="models")
