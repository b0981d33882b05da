"""Everyday use from a fresh shell: ``loanctl`` and ``bentoml serve`` with only ``LOAN_HOME`` set,
a service that cannot start stops once, and the API page is the project's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runners.apidocs import TITLE
from tests.integration.conftest import RunningService
from tests.integration.serving import ROOT, _wait_until_ready, free_port

BIN = Path(sys.executable).parent

REGISTER = """
from tests.runners.tiny_model import build
from training import registry
tag, _, _ = build(version="vanyshell")
client = registry.client()
client.create_registered_model(registry.MODEL_NAME)
mv = client.create_model_version(
    registry.MODEL_NAME, source="file://{home}", tags={{registry.BENTO_TAG: tag}}
)
registry.set_champion(str(mv.version))
print(tag)
"""


def fresh_env(home: Path) -> dict[str, str]:
    """What a new login shell has: no BENTOML_HOME, no MLFLOW_TRACKING_URI, only LOAN_HOME."""
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(home.parent),
        "LOAN_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # These tests are about where state lives, not tokens (tests/security covers those).
        "LOAN_AUTH_MODE": "off",
        "LOAN_ENVIRONMENT": "development",
    }


@pytest.mark.slow
def test_loanctl_and_bentoml_serve_work_from_any_shell(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = fresh_env(home)
    empty = subprocess.run(
        [str(BIN / "loanctl"), "models", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert empty.returncode == 0, empty.stderr
    assert f"no models registered under LOAN_HOME={home}" in empty.stdout

    made = subprocess.run(
        [sys.executable, "-c", REGISTER.format(home=home)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    tag = made.stdout.strip().splitlines()[-1]
    assert (home / "bentoml" / "models" / "loan_default").is_dir()  # the store followed LOAN_HOME

    listed = subprocess.run(
        [str(BIN / "loanctl"), "models", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert listed.returncode == 0 and tag in listed.stdout and "champion" in listed.stdout

    port, grpc = free_port(), free_port()
    log = tmp_path / "serve.log"
    command = [str(BIN / "bentoml"), "serve", "service:LoanDefaultService", "--working-dir",
               str(ROOT), "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env | {"LOAN_GRPC_PORT": str(grpc)},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_ready(process, f"http://127.0.0.1:{port}", log)
        meta = httpx.get(f"http://127.0.0.1:{port}/v1/metadata", timeout=10).json()
        assert f"{meta['model_name']}:{meta['model_version']}" == tag
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


@pytest.mark.slow
def test_a_service_without_a_model_stops_once_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    env = fresh_env(home) | {"LOAN_GRPC_PORT": str(free_port())}
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "bentoml"), "serve", "service:LoanDefaultService", "--host", "127.0.0.1",
         "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    errors = [line for line in output.splitlines() if "cannot start" in line]
    assert errors == [
        line for line in output.splitlines() if line.startswith("error: the service cannot start")
    ]
    assert len(errors) == 1 and "has no 'champion' alias" in errors[0], output
    assert "loanctl models promote" in errors[0] and "Traceback" not in output
    assert not (home / "mlflow" / "mlflow.db").exists()  # a lookup creates no store
    # The bound, for the whole run (measured 16.7 s beside a running test suite).
    print(f"bentoml serve without a model exited 3 after {seconds:.1f} s")
    assert seconds < 30


@pytest.mark.slow
def test_the_api_page_is_the_projects_and_its_examples_answer_200(
    http_server: RunningService,
) -> None:
    spec = httpx.get(f"{http_server.url}/docs.json", timeout=30).json()
    info = spec["info"]
    assert info["title"] == TITLE and "(model loan_default:" in info["version"]
    assert "BentoML" not in info["description"]
    assert [t["name"] for t in spec["tags"]] == ["Scoring", "Model", "Outcomes", "Infrastructure"]
    groups = {path: op["tags"] for path, item in spec["paths"].items() for op in item.values()}
    assert groups["/v1/predict"] == ["Scoring"] and groups["/v1/feedback"] == ["Outcomes"]
    assert all(tags for tags in groups.values())

    answered: dict[str, dict[str, Any]] = {}
    for path, item in spec["paths"].items():
        post = item.get("post")
        if post is None or "requestBody" not in post:
            continue
        example = post["requestBody"]["content"]["application/json"]["example"]
        if path == "/v1/feedback":  # needs the id of a real prediction (said on the page)
            example = {**example, "prediction_id": answered["/v1/predict"]["prediction_id"]}
        answer = httpx.post(f"{http_server.url}{path}", json=example, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        answered[path] = answer.json()
    assert set(answered) == {"/v1/predict", "/v1/predict_batch", "/v1/explain", "/v1/feedback"}

    page = httpx.get(f"{http_server.url}/", timeout=30).text
    assert f"<title>{TITLE}</title>" in page
    assert not re.search(r'(src|href)="https?://', page) and "googletagmanager" not in page


REGISTER_TWO = """
from tests.runners.tiny_model import build
from training import registry
client = registry.client()
client.create_registered_model(registry.MODEL_NAME)
for version in ("vfirst", "vsecond"):
    tag, _, _ = build(version=version)
    client.create_model_version(
        registry.MODEL_NAME, source="file://{home}", tags={{registry.BENTO_TAG: tag}}
    )
registry.set_champion("1")
"""


class Load:
    """Threads posting /v1/predict without pause; every answer's time, status and version."""

    def __init__(self, url: str, threads: int = 3) -> None:
        import threading

        self.url = url
        self.answers: list[tuple[float, int, str | None]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        from runners.apidocs import example_application

        body = example_application()
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                answer = client.post(f"{self.url}/v1/predict", json=body)
                version = answer.json().get("model_version") if answer.status_code == 200 else None
                self.answers.append((time.monotonic(), answer.status_code, version))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


SET_CHAMPION = (
    "from training import registry; print('champion is now', registry.set_champion('{}'))"
)
"""The bare alias move: these fixture models carry no training metrics, so the governed
``loanctl models promote`` refuses them (tests/training/test_governance.py covers it)."""


def _moved(load: Load, env: dict[str, str], command: list[str], to: str) -> float:
    """Run ``command``; seconds from its start to the first answer from ``to``."""
    before = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"champion is now loan_default:{to}" in done.stdout
    moved_at = time.monotonic()
    deadline = moved_at + 10
    while time.monotonic() < deadline + 3:
        time.sleep(0.5)
    late = [a for a in load.answers if a[0] > deadline]
    assert late and all(version == to for _, _, version in late)
    first_new = min(t for t, _, version in load.answers if t > before and version == to)
    return first_new - before


@pytest.mark.slow
def test_promotion_and_rollback_reach_the_service_under_load(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = fresh_env(home)
    made = subprocess.run(
        [sys.executable, "-c", REGISTER_TWO.format(home=home)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    port, grpc = free_port(), free_port()
    log = tmp_path / "serve.log"
    serve_env = env | {"LOAN_GRPC_PORT": str(grpc), "LOAN_RELOAD_SECONDS": "1"}
    command = [str(BIN / "bentoml"), "serve", "service:LoanDefaultService", "--host",
               "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=serve_env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, url, log)
        with Load(url) as load:
            time.sleep(2)
            promote = [sys.executable, "-c", SET_CHAMPION.format(2)]
            promoted = _moved(load, env, promote, "vsecond")
            rollback = [str(BIN / "loanctl"), "models", "rollback"]  # governed, no gate
            rolled_back = _moved(load, env, rollback, "vfirst")
        assert all(status == 200 for _, status, _ in load.answers), "a request failed"
        assert all(version in ("vfirst", "vsecond") for _, _, version in load.answers)
        meta = httpx.get(f"{url}/v1/metadata", timeout=10).json()
        assert meta["model_version"] == "vfirst"
        exposition = httpx.get(f"{url}/metrics", timeout=10).text
        [switched] = [
            float(line.split()[-1]) for line in exposition.splitlines()
            if line.startswith('loan_model_switches_total{outcome="switched"}')
        ]  # fmt: skip
        assert switched >= 4  # both API workers, twice (the explainer's too when it shares)
        assert log.read_text().count("model switched") >= 4
        print(f"{len(load.answers)} answers; the new version answered {promoted:.1f} s after "
              f"`promote` started, {rolled_back:.1f} s after `rollback`")  # fmt: skip
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
