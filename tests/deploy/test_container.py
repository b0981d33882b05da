"""The real container: ``make container`` builds the image from a Bento, and this test runs it.

It checks what an orchestrator relies on: the probes, REST and gRPC scoring, a non-root user, a
read-only root filesystem, configuration from the environment only (model tag, verification
and audit keys, data key, log folders, MLflow URI, ports), the traffic log and audit trail on a
mounted volume, and a SIGTERM under load that loses no answered decision. Authentication is on
(production mode), as it would be in a cluster: the keys come from a read-only "Secret" mount.
The build alone takes minutes on the vfs storage driver (docs/deployment.md), so it is not part
of ``make test``: ``make test-container`` runs it (marker ``container``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loan_default.data.generate import generate_applications
from loan_default.grpc.client import LoanScoringClient
from loan_default.security.audit_verify import verify
from loan_default.security.keys import generate_dev_keys, load_private_key
from loan_default.security.records import RecordCipher, decode_line
from loan_default.traffic import log_files
from tests.integration.serving import ROOT, free_port
from tests.runners.tiny_model import payloads
from tests.security.keyset import claims_for, sign

# The build alone takes longer than the suite's 600 s per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(5400)]

MODEL_VERSION = "vcontainer"
# One tag, replaced by each run and kept: its layers are the next build's cache (with vfs, a
# removed image costs minutes to build again).
IMAGE = "loan-default:container-test"
LOG = ROOT / "build" / "container" / "logs" / "test-container-make.log"
HTTP_PORT = free_port()
GRPC_PORT = free_port()
BUILD_SECONDS = 3600
STARTUP_SECONDS = 300


def _docker(*args: str, check: bool = True, timeout: float = 900) -> str:
    """``docker ARGS``; slow on vfs: ``run`` and ``rm`` copy or delete the image's files."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


@pytest.fixture(scope="module")
def image(session_home: Path) -> str:
    """``make container`` on a tiny model in this session's Bento store.

    ``LOAN_TEST_IMAGE=<tag>`` runs an image already built instead (e.g. the previous run's,
    to repeat the checks without the build).
    """
    if prebuilt := os.environ.get("LOAN_TEST_IMAGE"):
        return prebuilt
    from tests.runners.tiny_model import build

    tag, _, _ = build(version=MODEL_VERSION)
    var = session_home / "make"
    environment = os.environ | {"LOAN_MODEL_TAG": tag}
    result = subprocess.run(
        ["make", "--no-print-directory", "container", f"IMAGE={IMAGE}", f"VAR={var}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(result.stdout + result.stderr)  # the step times `make container` prints
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return IMAGE


UID = 1034  # the Bento image's `bentoml` user
SECRETS = "/run/secrets/loan"  # where a Kubernetes Secret would be mounted
STATE = "/var/lib/loan"  # LOAN_HOME on the shared volume, as in deploy/k8s


@dataclass(frozen=True)
class Keys:
    """The host's copy of the keys mounted into the container, and a caller's token."""

    folder: Path
    token: str

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def cipher(self) -> RecordCipher:
        return RecordCipher.load(self.folder / "data-keys.json")


def _give_to_container_user(path: Path) -> None:
    """Files the container's user may read (a Secret's ``fsGroup``): owned by it when we are
    root (the engine needs root anyway), else world-readable."""
    if os.geteuid() == 0:
        os.chown(path, UID, UID)
    else:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """Development keys as a Secret: token verification (JWKS), audit signing, pseudonyms,
    data key ring. The token's signing key stays on the host (the identity provider's)."""
    host = generate_dev_keys(tmp_path_factory.mktemp("issuer"))
    folder = tmp_path_factory.mktemp("secret")
    for source in (host.jwks, host.audit_signing_key, host.pseudonym_key, host.data_keys):
        shutil.copy2(source, folder / source.name)
        _give_to_container_user(folder / source.name)
    _give_to_container_user(folder)
    private = load_private_key(host.jwt_private_key, what="test token key")
    kid = json.loads(host.jwks.read_text())["keys"][-1]["kid"]
    return Keys(
        folder,
        sign(private, "ES256", kid, claims_for(["analyst"], exp=int(time.time()) + 3 * 3600)),
    )


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host folder mounted as LOAN_HOME (traffic, audit, prediction indexes)."""
    folder = tmp_path_factory.mktemp("state")
    _give_to_container_user(folder)
    if os.geteuid() != 0:
        folder.chmod(0o777)
    return folder


@pytest.fixture(scope="module")
def container(image: str, state: Path, keys: Keys) -> Iterator[str]:
    """The image run read-only, as its own user, configured by environment variables only."""
    name = f"loan-default-test-{uuid.uuid4().hex[:8]}"
    env = {
        "BENTOML_HOST": "127.0.0.1",  # --network host: stay on loopback
        "BENTOML_PORT": str(HTTP_PORT),
        "LOAN_GRPC_HOST": "127.0.0.1",
        "LOAN_GRPC_PORT": str(GRPC_PORT),
        "LOAN_MODEL_TAG": f"loan_default:{MODEL_VERSION}",
        "LOAN_HOME": STATE,
        "LOAN_TRAFFIC_DIR": f"{STATE}/traffic",
        "LOAN_JWKS_FILE": f"{SECRETS}/jwks.json",
        "LOAN_AUDIT_SIGNING_KEY_FILE": f"{SECRETS}/audit-signing.pem",
        "LOAN_PSEUDONYM_KEY_FILE": f"{SECRETS}/pseudonym.key",
        "LOAN_DATA_KEY_FILE": f"{SECRETS}/data-keys.json",
        # Never contacted (the model tag is given); the test reads it back from the settings.
        "LOAN_MLFLOW_TRACKING_URI": "http://127.0.0.1:9/mlflow",
        "LOAN_PAUSE_CHECK_SECONDS": "0",
    }
    args = ["run", "-d", "--name", name, "--network", "host", "--read-only"]
    args += ["--tmpfs", "/tmp", "--tmpfs", f"/home/bentoml/tmp:uid={UID},gid={UID}"]
    args += ["-v", f"{state}:{STATE}", "-v", f"{keys.folder}:{SECRETS}:ro"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    _docker(*args, image)
    try:
        _wait_ready(name)
        yield name
    finally:
        print(_docker("logs", "--tail", "60", name, check=False))
        _docker("rm", "-f", name, check=False)


def _wait_ready(name: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if _docker("inspect", "-f", "{{.State.Running}}", name) != "true":
            raise AssertionError(f"container exited:\n{_docker('logs', name, check=False)}")
        try:
            if httpx.get(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(2)
    raise AssertionError(f"not ready in {STARTUP_SECONDS} s:\n{_docker('logs', name, check=False)}")


@pytest.fixture(scope="module")
def bodies() -> list[dict]:
    return payloads(generate_applications(300, seed=5))


SOURCE = "/home/bentoml/bento/src"  # the Bento's code: the service's working folder


def _exec(container: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", "-w", SOURCE, container, *command],
        capture_output=True,
        text=True,
        check=False,
    )


def test_runs_as_the_non_root_user_with_env_settings(container: str) -> None:
    # Every process of the container (bentoml serve, its workers) runs as the image's user.
    rows = _docker("top", container, "-eo", "pid,uid,args").splitlines()[1:]
    assert rows and {row.split()[1] for row in rows} == {str(UID)}, rows
    # The root filesystem is read-only: the Bento's own folder (owned by that user) refuses a
    # write; only the mounted volume and the tmpfs folders take one.
    denied = _exec(container, "touch", "/home/bentoml/bento/x")
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr, denied
    assert _exec(container, "touch", f"{STATE}/written").returncode == 0
    # Configuration comes from the environment only: no .env file (the settings would read
    # one) in the Bento, and the settings the service reads are the variables given to `docker
    # run`.
    found = _exec(container, "find", "/home/bentoml/bento", "-name", ".env")
    assert found.returncode == 0 and not found.stdout.strip(), found
    script = (
        "from runners.settings import serving_settings; s = serving_settings(); "
        "print(s.model_tag, s.traffic_path, s.tracking_uri(), s.grpc_port)"
    )
    seen = _exec(container, "python", "-c", script)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == [
        f"loan_default:{MODEL_VERSION}",
        f"{STATE}/traffic",
        "http://127.0.0.1:9/mlflow",
        str(GRPC_PORT),
    ]


def test_probes_rest_and_grpc_answer(container: str, keys: Keys, bodies: list[dict]) -> None:
    base = f"http://127.0.0.1:{HTTP_PORT}"
    assert httpx.get(f"{base}/livez", timeout=5).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    # Authentication is on: the verification keys came from the environment's files.
    assert httpx.post(f"{base}/v1/predict", json=bodies[0], timeout=30).status_code == 401
    answer = httpx.post(f"{base}/v1/predict", json=bodies[0], headers=keys.headers(), timeout=30)
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["default_probability"] <= 1
    meta = httpx.get(f"{base}/v1/metadata", headers=keys.headers(), timeout=10).json()
    assert meta["model_version"] == MODEL_VERSION
    bad = httpx.post(
        f"{base}/v1/predict",
        json={**bodies[0], "score_source_1": 1.5},
        headers=keys.headers(),
        timeout=30,
    )
    assert bad.status_code == 422 and "score_source_1" in bad.text
    metadata = [("authorization", f"Bearer {keys.token}")]
    with LoanScoringClient(f"127.0.0.1:{GRPC_PORT}", timeout=30, metadata=metadata) as client:
        client.wait_ready(timeout=30)
        assert client.health() == "SERVING"
        grpc_answer = client.predict(bodies[0])
    assert grpc_answer["default_probability"] == pytest.approx(answer.json()["default_probability"])


def test_sigterm_under_load_loses_no_answered_decision(
    container: str, state: Path, keys: Keys, bodies: list[dict]
) -> None:
    answered: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def caller(offset: int) -> None:
        with httpx.Client(timeout=30, headers=keys.headers()) as client:
            i = offset
            while not stop.is_set():
                try:
                    reply = client.post(
                        f"http://127.0.0.1:{HTTP_PORT}/v1/predict", json=bodies[i % len(bodies)]
                    )
                except httpx.TransportError:
                    time.sleep(0.05)  # refused once the server stops listening
                    continue
                if reply.status_code == 200:
                    answered.append(reply.json()["prediction_id"])
                else:
                    refused.append(reply.status_code)
                i += 4

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    before_stop = len(answered)
    started = time.monotonic()
    _docker("stop", "--time", "60", container, timeout=90)  # SIGTERM, SIGKILL after 60 s
    stopped_in = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    assert before_stop > 10, "no load before the SIGTERM"
    assert len(answered) > before_stop, "nothing answered after the load started"
    assert stopped_in < 55, f"no graceful stop: killed after {stopped_in:.0f} s"
    exit_code, oom = _docker(
        "inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", container
    ).split()
    assert oom == "false"
    assert exit_code != "137", "killed, not stopped"
    assert set(refused) <= {503}, refused  # stopping: refused, never a server error
    # The traffic log is encrypted with the data key given by the environment.
    cipher = keys.cipher()
    raw = [
        line
        for path in log_files(state / "traffic", "predictions")
        for line in path.read_bytes().splitlines()
        if line
    ]
    assert raw and all(line.startswith(b'{"enc":"A256GCM"') for line in raw)
    logged = {decode_line(line, cipher)["prediction_id"] for line in raw}
    missing = set(answered) - logged
    assert not missing, f"{len(missing)} of {len(answered)} answered decisions not in the log"
    # The audit trail, signed with the key from the environment, is whole after the stop.
    audit_key = load_private_key(keys.folder / "audit-signing.pem", what="audit key")
    report = verify(
        state / "audit", state / "audit-checkpoints", public_key=audit_key.public_key(),
        cipher=cipher,
    )  # fmt: skip
    assert not report.findings, report.findings
    assert report.entries >= len(answered)
