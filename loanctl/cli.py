"""``loanctl``: one command-line tool for every stage of the platform (the wiring layer).

Stages register their own sub-commands (``data``, ``train``/``predict``/``models``,
``monitor``, ``service``), and this root joins what no stage may import itself: the sidecar's
triggers start the daily pipeline's flow (:func:`loanctl.flows.flow_trainer`). Anticipated
failures print one ``error:`` line and exit with the error's code (2 for bad input) instead of
a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from loan_default.errors import LoanError

app = typer.Typer(
    name="loanctl",
    help="Loan default platform: data, training, prediction, model registry and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from loan_default.home import project_version

        typer.echo(f"loanctl {project_version()}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Loan default platform."""
    from loanctl.flows import flow_trainer
    from monitoring.cli import MonitorWiring

    ctx.obj = MonitorWiring(trainer_factory=flow_trainer)


def _register() -> None:
    from loan_default.data.cli import app as data_app

    app.add_typer(data_app, name="data", help="Import, generate, validate and hash data sets.")

    from monitoring.cli import app as monitor_app
    from monitoring.cli import service_app

    app.add_typer(monitor_app, name="monitor", help="Monitoring sidecar and traffic replay.")
    app.add_typer(service_app, name="service", help="Pause, resume or check scoring.")

    from loan_default.security.cli import audit_app, auth_app

    app.add_typer(auth_app, name="auth", help="Development keys and bearer tokens.")
    app.add_typer(audit_app, name="audit", help="Verify and read the audit trail.")

    from loanctl.models_cli import register as register_governance
    from training.cli import models_app
    from training.cli import register as register_training

    register_governance(models_app)  # list, approve, waive, check, promote, rollback
    register_training(app)  # train, predict, models

    from loanctl.backup_cli import app as backup_app

    app.add_typer(backup_app, name="backup", help="Back up and restore the platform's state.")

    from loanctl.pipeline_cli import app as pipeline_app

    app.add_typer(pipeline_app, name="pipeline", help="The daily ingestion -> training flow.")

    from loanctl.features_cli import app as features_app

    app.add_typer(features_app, name="features", help="The feature store: apply, load, status.")

    from loanctl.records_cli import register as register_records

    register_records(app)  # lineage, privacy, report


_register()


def run() -> None:
    """Entry point: ``loanctl``, turning anticipated errors into one line and an exit code.

    Usage errors (unknown command or option) are click's: a message and exit code 2.
    """
    from loan_default.home import configure_environment

    configure_environment()  # before anything imports bentoml (installs without the .pth hook)
    try:
        app()
    except LoanError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    run()
