"""``loanctl features apply|materialize|status``: the Feast feature store's life cycle.

``apply`` generates the repository from the canonical schema (``<home>/feature_repo``, or
``LOAN_FEATURE_REPO_DIR``) and registers its definitions; ``materialize`` loads the bureau
table into the online store (SQLite, or Redis with ``LOAN_FEATURE_ONLINE_STORE=redis``);
``status`` shows each view's version, rows, clients and freshness. ``apply`` and
``materialize`` need the permission ``features:manage`` (``configs/rbac.yaml``: the
ml-engineer role; a local ``loanctl`` has the policy's ``local_roles``) and are recorded in the
audit trail's ``control`` stream with their caller (they change what the service serves).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    hours = (now - when).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} d ago"


@app.command("apply")
def apply_command() -> None:
    """Generate the feature repository from the schema and register its definitions."""
    from loan_default.feature_store.settings import FeatureStoreSettings
    from loan_default.feature_store.store import apply
    from loan_default.security.cli import cli_principal
    from loan_default.security.guard import record_control
    from loan_default.security.rbac import actor

    cli_principal("cli.features.apply")
    settings = FeatureStoreSettings()
    names = apply(settings)
    record_control(
        "features.applied", actor("features"), repository=str(settings.repo_path),
        online_store=settings.feature_online_store, definitions=names,
    )  # fmt: skip
    typer.echo(f"feature repository {settings.repo_path} ({settings.feature_online_store})")
    typer.echo("registered: " + ", ".join(names))


@app.command("materialize")
def materialize_command(
    end: Annotated[
        datetime | None,
        typer.Option(help="Load bureau rows up to this instant (UTC; default now)."),
    ] = None,
) -> None:
    """Load the bureau table into the online store (incrementally, since the last load)."""
    from loan_default.feature_store.settings import FeatureStoreSettings
    from loan_default.feature_store.store import materialize
    from loan_default.security.cli import cli_principal
    from loan_default.security.guard import record_control
    from loan_default.security.rbac import actor

    cli_principal("cli.features.materialize")
    settings = FeatureStoreSettings()
    until = materialize(settings, None if end is None else end.replace(tzinfo=end.tzinfo or UTC))
    record_control(
        "features.materialized", actor("features"), repository=str(settings.repo_path),
        until=until.isoformat(),
    )  # fmt: skip
    typer.echo(f"online store loaded up to {until:%Y-%m-%d %H:%M:%S} UTC")


@app.command("status")
def status_command() -> None:
    """Each view's version, offline rows and clients, newest event and last online load."""
    from loan_default.console import print_table
    from loan_default.feature_store.settings import FeatureStoreSettings
    from loan_default.feature_store.store import status

    settings = FeatureStoreSettings()
    now = datetime.now(UTC)
    rows = [
        [v.label, f"{v.offline_rows:,}", f"{v.clients:,}", _age(v.latest_event, now),
         _age(v.materialized_until, now) if v.name.startswith("bureau") else "pushed"]
        for v in status(settings)
    ]  # fmt: skip
    typer.echo(f"feature repository {settings.repo_path} ({settings.feature_online_store})")
    print_table(["view", "rows", "clients", "newest event", "online load"], rows)
