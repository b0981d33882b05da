"""MLflow for a team: a tracking server on PostgreSQL with an artifact root, started locally.

``make mlflow-server`` runs ``python -m loanctl.team_mlflow`` (the slow test uses the same
class): a PostgreSQL cluster of its own in ``<dir>/pg`` (Debian's ``initdb``/``pg_ctl``; its
own socket folder and port, listening on 127.0.0.1 only), a database ``mlflow``, and ``mlflow
server`` with that database as backend store and ``<dir>/artifacts`` as the artifact root
(served through the server: clients need no access to the folder). Everyone then sets
``MLFLOW_TRACKING_URI=http://<host>:<port>``: ``loanctl train`` registers there and the
service resolves the champion there.

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user (or
``nobody``) and its commands run through ``runuser``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loan_default.errors import ConfigError
from loanctl.mlflow_db import libpq_uri, pg_tool

DB_USER = "mlflow"
DB_NAME = "mlflow"


def _service_user() -> str | None:
    """Whom PostgreSQL runs as: None (this user) unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ConfigError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PostgresCluster:
    """A throw-away or long-lived PostgreSQL cluster in ``folder``, on 127.0.0.1:``port``."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def uri(self, database: str = DB_NAME) -> str:
        """SQLAlchemy's spelling (MLflow's backend store); ``libpq_uri`` gives libpq's."""
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        user = _service_user()
        prefix = ["runuser", "-u", user, "--"] if user else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd=self.folder)
        if done.returncode != 0:
            raise ConfigError(
                f"{Path(command[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-1500:]}"
            )
        return done

    def init(self) -> None:
        """Create the cluster (superuser ``mlflow``, trust on loopback) unless it exists."""
        self.folder.mkdir(parents=True, exist_ok=True)
        user = _service_user()
        if user:
            shutil.chown(self.folder, user, user)
        if (self.data / "PG_VERSION").exists():
            return
        self._run(pg_tool("initdb"), "-D", str(self.data), "-U", DB_USER, "--auth=trust",
                  "-E", "UTF8", "--no-locale")  # fmt: skip

    def start(self) -> None:
        """Start the server (socket and log in ``folder``) and create the database."""
        options = f"-k {self.folder} -p {self.port} -h 127.0.0.1"
        self._run(pg_tool("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "postgres.log"), "-w", "-t", "120", "start")  # fmt: skip
        self.create_database(DB_NAME)

    def create_database(self, name: str) -> None:
        """Create database ``name`` if it does not exist."""
        import psycopg2

        conn = psycopg2.connect(libpq_uri(self.uri("postgres")))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(pg_tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


def server_command(backend: str, artifacts: Path, host: str, port: int) -> list[str]:
    """``mlflow server`` with a database backend and a served artifact root."""
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    return [mlflow, "server", "--backend-store-uri", backend, "--artifacts-destination",
            str(artifacts), "--host", host, "--port", str(port), "--workers", "1"]  # fmt: skip


def server_env() -> dict[str, str]:
    """Offline and lean: no telemetry, no job runner (it triples the server's memory)."""
    return os.environ | {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("var/mlflow-server"), help="State.")
    parser.add_argument("--host", default="127.0.0.1", help="Address of the tracking server.")
    parser.add_argument("--port", type=int, default=5000, help="Port of the tracking server.")
    parser.add_argument("--pg-port", type=int, default=5433, help="Port of PostgreSQL.")
    args = parser.parse_args()
    folder = args.dir.resolve()
    cluster = PostgresCluster(folder / "pg", args.pg_port)
    cluster.init()
    cluster.start()
    artifacts = folder / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    print(f"PostgreSQL {cluster.uri()} (log {cluster.folder / 'postgres.log'})", flush=True)
    print(f"MLflow: export MLFLOW_TRACKING_URI=http://{args.host}:{args.port}", flush=True)
    server = subprocess.Popen(
        server_command(cluster.uri(), artifacts, args.host, args.port), env=server_env()
    )
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()
    finally:
        time.sleep(0.2)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
