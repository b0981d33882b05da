"""The monitor's image: ``make container-monitor`` builds it, and this test runs the sidecar in it.

As the cluster runs it (``deploy/k8s/base/monitor-deployment.yaml``): the image's own user (uid
1034, no ``--user``), a read-only root filesystem with ``/tmp`` in memory, the traffic log on a
mounted "shared volume" (written here by the project's own writer, encrypted with the data key,
the way the service writes it), its state on a second volume, the keys from a read-only "Secret"
mount, everything else from ``-e`` variables. ``loanctl monitor run --once`` must read the
encrypted log, analyse its three windows (normal, a shifted population, a data-quality
incident), catch the drift, pause scoring through the shared volume, write its reports and
state, and audit the pause with the mounted keys. Marker ``container``: ``make
test-container-monitor`` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from loan_default import control
from loan_default.data.shifts import Shift
from loan_default.model import ScoringModel
from loan_default.security.audit_verify import read_stream, verify
from loan_default.security.keys import generate_dev_keys, load_private_key
from loan_default.security.records import RecordCipher
from tests.deploy.test_container import _docker, _give_to_container_user
from tests.integration.serving import ROOT
from tests.monitoring.sidecar_world import BIG_SHIFT, register_model, write_traffic

pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(5400)]

MODEL_VERSION = "vmonitorimage"
MODEL_TAG = f"loan_default:{MODEL_VERSION}"
# One tag, replaced by each run and kept: its layers are the next build's cache.
IMAGE = "loan-default-monitor:container-test"
LOG = ROOT / "build" / "container" / "logs" / "test-container-monitor-make.log"
BUILD_SECONDS = 3600
UID = 1034
SECRETS = "/run/secrets/loan"
SHARED = "/var/lib/loan"  # LOAN_HOME: the shared volume of the scoring pods
STATE = "/var/lib/loan-monitor"  # LOAN_MONITOR_DIR: the monitor's own volume
# Windows of 400 records: one of normal applications, one shifted, one of a data-quality incident.
CONFIG = {
    "windows": {"max_records": 400, "max_seconds": 86_400, "min_records": 200},
    "fairness": {"attributes": ["client_gender", "age_band"], "min_group_size": 50},
    "drift": {"min_rows": 100},
    "retrain": {"enabled": False},
}


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    """A tiny model with its drift reference, in this session's Bento store."""
    return register_model(MODEL_VERSION)


@pytest.fixture(scope="module")
def image(model: ScoringModel, session_home: Path) -> str:
    """``make container-monitor`` packing the tiny model (``LOAN_TEST_MONITOR_IMAGE``: reuse)."""
    if prebuilt := os.environ.get("LOAN_TEST_MONITOR_IMAGE"):
        return prebuilt
    result = subprocess.run(
        ["make", "--no-print-directory", "container-monitor", f"MONITOR_IMAGE={IMAGE}",
         f"MONITOR_MODELS={MODEL_TAG}"],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_SECONDS, check=False,
    )  # fmt: skip
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return IMAGE


@dataclass(frozen=True)
class World:
    """The host folders mounted into the container."""

    shared: Path
    state: Path
    keys: Path

    def cipher(self) -> RecordCipher:
        return RecordCipher.load(self.keys / "data-keys.json")


@pytest.fixture(scope="module")
def world(model: ScoringModel, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(model, tmp_path_factory.mktemp("world"))


def make_world(model: ScoringModel, folder: Path) -> World:
    """Encrypted traffic of the tiny model (normal, shifted, an incident) and the monitoring YAML
    on the shared volume; an empty state volume; the keys as a Secret."""
    host = generate_dev_keys(folder / "issuer")
    world = World(folder / "shared", folder / "monitor-state", folder / "secret")
    for made in (world.shared, world.state, world.keys):
        made.mkdir()
    for source in (host.audit_signing_key, host.pseudonym_key, host.data_keys):
        shutil.copy2(source, world.keys / source.name)
    start = datetime.now(UTC) - timedelta(hours=3)
    incident = Shift("incident", missing={"score_source_2": 0.9, "loan_annuity": 0.9})
    for hour, shift in enumerate((None, BIG_SHIFT, incident)):
        at = start + timedelta(hours=hour)
        write_traffic(world.shared / "traffic", model, MODEL_VERSION, rows=400, seed=21 + hour,
                      shift=shift, start=at, cipher=world.cipher())  # fmt: skip
    (world.shared / "monitoring.yaml").write_text(yaml.safe_dump(CONFIG))
    for mounted in (world.keys, world.shared, world.state):
        for path in [mounted, *mounted.rglob("*")]:
            _give_to_container_user(path)
    return world


def monitor_command(world: World) -> tuple[list[str], dict[str, str]]:
    """``docker run`` options (mounts, variables) and the arguments of the image's ``loanctl``:
    the Deployment's, plus ``--once``."""
    env = {
        "LOAN_HOME": SHARED,
        "LOAN_TRAFFIC_DIR": f"{SHARED}/traffic",
        "LOAN_MONITOR_DIR": STATE,
        "LOAN_MONITOR_CONFIG": f"{SHARED}/monitoring.yaml",
        "LOAN_AUDIT_SIGNING_KEY_FILE": f"{SECRETS}/audit-signing.pem",
        "LOAN_PSEUDONYM_KEY_FILE": f"{SECRETS}/pseudonym.key",
        "LOAN_DATA_KEY_FILE": f"{SECRETS}/data-keys.json",
        "LOAN_MLFLOW_TRACKING_URI": "http://127.0.0.1:9/mlflow",  # never contacted
    }
    options = ["--network", "host", "--read-only", "--tmpfs", "/tmp"]
    options += ["-v", f"{world.shared}:{SHARED}", "-v", f"{world.state}:{STATE}"]
    options += ["-v", f"{world.keys}:{SECRETS}:ro"]
    for key, value in env.items():
        options += ["-e", f"{key}={value}"]
    return options, env


def test_the_sidecar_runs_once_in_its_image_as_the_cluster_runs_it(
    image: str, world: World
) -> None:
    config = json.loads(_docker("image", "inspect", "-f", "{{json .Config}}", image))
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["loanctl"] and config["Cmd"] == ["monitor", "run"]
    options, _ = monitor_command(world)
    # `docker run` copies the image first with vfs (minutes): one run does everything.
    script = SCRIPT.format(state=STATE)
    output = _docker(
        "run", "--rm", *options, "--entrypoint", "/bin/sh", image, "-c", script, timeout=1800
    )
    check_run(output, world, uid=UID)


# Who runs it, the version, whether the code can be changed (it must not), then the sidecar.
SCRIPT = (
    "set -e; id -u; loanctl --version; "
    "if touch /app/src/x 2>/dev/null; then echo code-writable; fi; "
    "loanctl monitor run --once --metrics-file {state}/metrics.prom"
)


def check_run(output: str, world: World, *, uid: int) -> None:
    """What ``SCRIPT`` must have printed and left on the volumes."""
    lines = output.splitlines()
    assert lines[0] == str(uid), output  # the image's user, not root
    assert lines[1].startswith("loanctl 0.1"), output
    assert "code-writable" not in output  # read-only root filesystem
    windows = [line for line in lines if f"records of {MODEL_VERSION}," in line]
    assert len(windows) == 3, output
    assert "drifted: none" in windows[0], output
    assert "drifted: none" not in windows[1], output  # the shifted population is caught
    assert "trigger drift" in output

    reports = [p for p in (world.state / "reports").iterdir() if (p / "index.html").is_file()]
    assert len(reports) == 3
    for report in reports:  # Evidently's page too: its package and its files work in the image
        assert (report / f"evidently-{MODEL_VERSION}.html").stat().st_size > 10_000
    metrics = (world.state / "metrics.prom").read_text()
    assert f'model_version="{MODEL_VERSION}"' in metrics
    with sqlite3.connect(world.state / "state.db") as db:
        row = db.execute("select checkpoint from cursor where kind = 'predictions'").fetchone()
    assert row and row[0]  # where the next run goes on reading
    owners = {path.stat().st_uid for path in world.state.rglob("*")}
    assert owners == {uid}  # written by the image's user
    # The incident paused every scoring replica (the pause switch on the shared volume), and
    # the pause was audited, encrypted with the mounted data key and signed with its key.
    pause = control.status(world.shared)
    assert pause is not None and pause.by == "monitoring", output
    public = load_private_key(world.keys / "audit-signing.pem", what="audit key").public_key()
    audit = verify(world.shared / "audit", world.shared / "audit-checkpoints",
                   public_key=public, cipher=world.cipher())  # fmt: skip
    assert audit.ok and audit.entries >= 1, audit
    events = [entry["event"] for path in (world.shared / "audit").glob("*.jsonl")
              for entry in read_stream(path, world.cipher())[0]]  # fmt: skip
    assert "scoring.paused" in events
