"""``loanctl backup create|restore|verify|prune``: the platform's state, backed up and restored.

What is copied and how it stays consistent while the service runs: :mod:`loanctl.backup`.
Locations follow the environment the service and the sidecar use (:mod:`loanctl.locations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("create")
def create(
    root: Annotated[Path, typer.Argument(help="Folder that holds the backups (one per run).")],
) -> None:
    """Back up MLflow (database and artifacts), models, monitoring, traffic, audit and control."""
    from loanctl.backup import create as do_create
    from loanctl.locations import StateLocations

    result = do_create(root, StateLocations.from_settings())
    typer.echo(
        f"backup {result.path}: {result.files} files, {result.bytes / 1e6:.1f} MB "
        f"in {result.seconds:.1f} s"
    )


@app.command("verify")
def verify(
    backup: Annotated[Path, typer.Argument(help="A backup, or a folder of backups (newest).")],
) -> None:
    """Check every file of a backup against its manifest (exit 2 if corrupt)."""
    from loanctl.backup import find
    from loanctl.backup import verify as do_verify

    path = find(backup)
    manifest = do_verify(path)
    typer.echo(f"backup {path}: {len(manifest['files'])} files intact")


@app.command("restore")
def restore(
    backup: Annotated[Path, typer.Argument(help="A backup, or a folder of backups (newest).")],
    force: Annotated[
        bool, typer.Option("--force", help="Move existing state aside (*.replaced-<time>) first.")
    ] = False,
) -> None:
    """Verify a backup, then restore it into this home (empty, unless --force)."""
    from loanctl.backup import find
    from loanctl.backup import restore as do_restore
    from loanctl.locations import StateLocations

    result = do_restore(find(backup), StateLocations.from_settings(), force=force)
    typer.echo(f"restored {result.path}: {result.files} files in {result.seconds:.1f} s")
    for path in result.moved_aside:
        typer.echo(f"previous state kept in {path}")


@app.command("prune")
def prune(
    root: Annotated[Path, typer.Argument(help="Folder that holds the backups.")],
    keep_days: Annotated[
        float, typer.Option("--keep-days", min=0, help="Keep backups younger than this.")
    ] = 30.0,
) -> None:
    """Delete backups older than --keep-days (30); the newest one is always kept."""
    from loanctl.backup import prune as do_prune

    removed = do_prune(root, keep_days=keep_days)
    typer.echo(f"removed {len(removed)} backup(s)" + "".join(f"\n  {p}" for p in removed))
