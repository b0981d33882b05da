"""Disaster recovery drill: a backup taken while the service answers, restored onto an empty
home, serves the same champion with the same answers; the restore is timed (RTO < 5 min)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.serving import bentoml_serve, free_port
from tests.loanctl.world import answers, applications, fast_config, home_env, small_data

pytestmark = pytest.mark.slow
LOANCTL = str(Path(sys.executable).with_name("loanctl"))


def test_a_backup_taken_while_serving_restores_the_same_answers_onto_an_empty_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loanctl.backup import create, verify
    from loanctl.locations import StateLocations
    from training import registry
    from training.pipeline import run_training

    trained = run_training(small_data(tmp_path), config=fast_config(tmp_path), quiet=True)
    registry.set_champion(trained.mlflow_version)
    apps = applications()
    url_a = f"http://127.0.0.1:{free_port()}"
    serve_a = {"LOAN_MODEL_TAG": ""}  # no tag: the service resolves the MLflow champion
    with bentoml_serve("", http_port=int(url_a.rsplit(":", 1)[1]), grpc_port=free_port(),
                       log=tmp_path / "serve-a.log", env=serve_a):  # fmt: skip
        before = answers(url_a, apps)
        stop = threading.Event()
        busy = threading.Thread(target=lambda: [answers(url_a, apps[:3]) for _ in iter(
            stop.is_set, True)])  # fmt: skip
        busy.start()  # the service keeps answering (and logging) while the backup is taken
        try:
            made = create(tmp_path / "backups", StateLocations.from_settings())
        finally:
            stop.set()
            busy.join()
    assert {m for *_, m in before} == {trained.bento_tag.split(":")[1]}
    assert "mlflow/mlflow.db" in verify(made.path)["files"]

    home_b = tmp_path / "empty-home"
    env_b = home_env(home_b)
    start = time.perf_counter()
    restored = subprocess.run([LOANCTL, "backup", "restore", str(tmp_path / "backups")],
                              env=env_b, capture_output=True, text=True)  # fmt: skip
    rto = time.perf_counter() - start
    assert restored.returncode == 0, restored.stderr
    url_b = f"http://127.0.0.1:{free_port()}"
    with bentoml_serve("", http_port=int(url_b.rsplit(":", 1)[1]), grpc_port=free_port(),
                       log=tmp_path / "serve-b.log", env={**env_b, **serve_a}):  # fmt: skip
        after = answers(url_b, apps)
    assert after == before
    with capsys.disabled():
        print(
            f"\nrestore: {made.files} files, {made.bytes / 1e6:.1f} MB; `loanctl backup "
            f"restore` took {rto:.1f} s wall ({restored.stdout.strip()})"
        )
