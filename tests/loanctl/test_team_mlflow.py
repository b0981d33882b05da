"""MLflow for a team: a real PostgreSQL cluster behind ``mlflow server``; training registers
there, the service loads the champion from there, and ``pg_dump`` backs it up."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.serving import bentoml_serve, free_port
from tests.loanctl.world import answers, applications, fast_config, small_data

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[tuple[str, object, Path]]:
    """(tracking URL, the PostgresCluster, artifact root): a throw-away team MLflow."""
    from loanctl.team_mlflow import PostgresCluster, server_command, server_env

    # Not under tmp_path: pytest's folders are private to this user, and as root PostgreSQL
    # runs as another user that must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="loan-pg-"))
    cluster = PostgresCluster(folder, free_port())
    cluster.init()
    cluster.start()
    artifacts = tmp_path / "artifacts"
    port = free_port()
    log = (tmp_path / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        server_command(cluster.uri(), artifacts, "127.0.0.1", port),
        env=server_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server not up in 180 s"
            time.sleep(1)
        yield url, cluster, artifacts
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_training_registers_to_postgres_and_the_service_serves_its_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracking_server: tuple[str, object, Path]
) -> None:
    import psycopg2

    from loanctl.backup import create, verify
    from loanctl.locations import StateLocations, StateSettings
    from loanctl.mlflow_db import libpq_uri, load
    from loanctl.team_mlflow import PostgresCluster
    from training import registry
    from training.pipeline import run_training

    url, cluster, artifacts = tracking_server
    assert isinstance(cluster, PostgresCluster)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    trained = run_training(small_data(tmp_path), config=fast_config(tmp_path), quiet=True)
    assert registry.set_champion(trained.mlflow_version) == trained.bento_tag
    with psycopg2.connect(libpq_uri(cluster.uri())) as conn, conn.cursor() as cur:
        cur.execute("SELECT alias, version FROM registered_model_aliases")
        assert ("champion", int(trained.mlflow_version)) in cur.fetchall()
    assert any(artifacts.rglob("*")), "the model's artifacts went to the server's root"

    http_port = free_port()
    env = {"LOAN_MODEL_TAG": "", "MLFLOW_TRACKING_URI": url}  # the champion, from the server
    with bentoml_serve("", http_port=http_port, grpc_port=free_port(),
                       log=tmp_path / "serve.log", env=env):  # fmt: skip
        served = answers(f"http://127.0.0.1:{http_port}", applications(3))
        metadata = httpx.get(f"http://127.0.0.1:{http_port}/v1/metadata", timeout=30).json()
    assert {version for *_, version in served} == {trained.bento_tag.split(":")[1]}
    assert metadata["mlflow_run_id"] == trained.mlflow_run_id

    settings = StateSettings(mlflow_db_uri=cluster.uri(), mlflow_artifacts_dir=artifacts)
    made = create(tmp_path / "backups", StateLocations.from_settings(settings))
    assert "mlflow/mlflow.pgdump" in verify(made.path)["files"]  # pg_dump, consistent online
    cluster.create_database("restored")
    load(cluster.uri("restored"), made.path / "mlflow" / "mlflow.pgdump", replace=False)
    with psycopg2.connect(libpq_uri(cluster.uri("restored"))) as conn, conn.cursor() as cur:
        cur.execute("SELECT alias, version FROM registered_model_aliases")
        assert ("champion", int(trained.mlflow_version)) in cur.fetchall()
