"""The MLflow backend database: consistent dumps, restores and moving its artifact root.

SQLite is copied with SQLite's online backup API (a consistent snapshot while the service,
training or the tracking server write to it); PostgreSQL with ``pg_dump`` (one transaction,
so also consistent) and ``pg_restore``. The client tools come from Debian's ``postgresql``
package; they are looked up on ``PATH`` and in ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from loan_default.errors import ConfigError, InputError

SQLITE_DUMP = "mlflow.db"
POSTGRES_DUMP = "mlflow.pgdump"


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL program (``pg_dump``, ``initdb``...), or ConfigError."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)),
        None,
    )
    if found is None:
        raise ConfigError(f"{name} not found: install Debian's postgresql package")
    return found


def libpq_uri(uri: str) -> str:
    """A SQLAlchemy PostgreSQL URI as libpq spells it (no ``+driver``)."""
    scheme, _, rest = uri.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgresql") else uri


def is_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///")


def sqlite_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def sqlite_snapshot(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def dump(uri: str, folder: Path) -> str:
    """Write the database into ``folder``; returns the dump's file name."""
    if is_sqlite(uri):
        source = sqlite_path(uri)
        if not source.is_file():
            raise InputError(f"the MLflow database {source} does not exist: nothing to back up")
        sqlite_snapshot(source, folder / SQLITE_DUMP)
        return SQLITE_DUMP
    subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(folder / POSTGRES_DUMP),
         libpq_uri(uri)],
        check=True, capture_output=True,
    )  # fmt: skip
    return POSTGRES_DUMP


def _pg_has_tables(uri: str) -> bool:
    import psycopg2

    with psycopg2.connect(libpq_uri(uri)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        row = cur.fetchone()
    return bool(row and row[0])


def is_empty(uri: str) -> bool:
    """True when restoring into ``uri`` would overwrite nothing."""
    if is_sqlite(uri):
        return not sqlite_path(uri).exists()
    return not _pg_has_tables(uri)


def load(uri: str, dump_file: Path, *, replace: bool) -> None:
    """Restore a dump into ``uri`` (an absent SQLite file, or an empty PostgreSQL database).

    Raises:
        InputError: the target holds data and ``replace`` is False.
    """
    if not replace and not is_empty(uri):
        raise InputError(f"the MLflow database {uri} is not empty: restore with --force")
    if is_sqlite(uri):
        target = sqlite_path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".restoring")
        shutil.copyfile(dump_file, partial)
        partial.replace(target)
        return
    command = [pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", libpq_uri(uri)]
    if replace:
        command[1:1] = ["--clean", "--if-exists"]
    subprocess.run([*command, str(dump_file)], check=True, capture_output=True)


def move_artifact_root(uri: str, old: str, new: str) -> int:
    """Point every stored artifact location under ``old`` to ``new``; returns rows changed.

    MLflow stores absolute artifact URIs (experiments, runs, logged models, registry
    versions): a restore into another folder must rewrite them, or the models it lists would
    point at the old machine's files.
    """
    if old == new:
        return 0
    if is_sqlite(uri):
        conn = sqlite3.connect(sqlite_path(uri))
        try:
            columns = [
                (table, col)
                for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                for _, col, kind, *_ in conn.execute(f'PRAGMA table_info("{table}")')
                if "CHAR" in kind.upper() or "TEXT" in kind.upper()
            ]
            changed = 0
            for table, col in columns:
                cur = conn.execute(
                    f'UPDATE "{table}" SET "{col}" = ? || substr("{col}", ?) '
                    f'WHERE substr("{col}", 1, ?) = ?',
                    (new, len(old) + 1, len(old), old),
                )
                changed += cur.rowcount
            conn.commit()
            return changed
        finally:
            conn.close()
    import psycopg2

    with psycopg2.connect(libpq_uri(uri)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = 'public' AND data_type IN ('text', 'character varying')"
        )
        changed = 0
        for table, col in cur.fetchall():
            cur.execute(
                f'UPDATE "{table}" SET "{col}" = %s || substr("{col}", %s) '
                f'WHERE substr("{col}", 1, %s) = %s',
                (new, len(old) + 1, len(old), old),
            )
            changed += cur.rowcount
    return changed
