"""A real ``bentoml serve``: every endpoint through ``bentoml.SyncHTTPClient``, metrics, and no
answered request lost when a worker is SIGKILLed under load."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from loan_default.api import BatchPrediction, Explanation, ModelInfo, Prediction
from loan_default.data.generate import generate_applications
from loan_default.reasons import reason_codes
from loan_default.traffic import log_files
from tests.integration.conftest import RunningService
from tests.integration.serving import ROOT
from tests.runners.tiny_model import payloads

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bodies() -> list[dict]:
    return payloads(generate_applications(200, seed=99))


def _logged_ids(home: Path) -> set[str]:
    import orjson

    return {
        orjson.loads(line)["prediction_id"]
        for path in log_files(home / "traffic", "predictions")
        for line in path.read_bytes().splitlines()
        if line
    }


DOCS_EXAMPLE = {"client_income": 6750, "credit_amount": 61190.55, "age_days": 13957,
                "loan_annuity": 3416.85, "score_source_2": 0.478,
                "client_education": "secondary"}  # fmt: skip
"""The application of docs/serving.md (issue 11 saw reasons for fields it never gave)."""


def _check_reasons_per_field(client: Any, body: dict) -> None:
    """Reasons name schema fields, each once; a field not sent only as its "missing" statement."""
    answer = client.request("POST", "/v1/explain", json=body)
    assert answer.status_code == 200, answer.text
    reasons = Explanation.model_validate(answer.json()).reasons
    codes = reason_codes().codes
    assert reasons and len({r.feature for r in reasons}) == len(reasons)
    for r in reasons:
        assert r.feature in codes
        expected = (body[r.feature], codes[r.feature].reason) if r.feature in body else (
            None, codes[r.feature].missing
        )  # fmt: skip
        assert (r.value, r.reason) == expected


def test_every_endpoint_over_a_real_server(http_server: RunningService, bodies: list[dict]) -> None:
    client = http_server.client()
    assert client.is_ready(timeout=5)
    single = Prediction.model_validate(client.request("POST", "/v1/predict", json=bodies[0]).json())
    batch = client.request("POST", "/v1/predict_batch", json={"applications": bodies[:50]})
    predictions = BatchPrediction.model_validate(batch.json()).predictions
    assert predictions[0].default_probability == single.default_probability
    explained = client.request("POST", "/v1/explain", json=bodies[0])
    explanation = Explanation.model_validate(explained.json())
    assert explanation.default_probability == single.default_probability
    assert 0 < len(explanation.reasons) <= 4
    _check_reasons_per_field(client, DOCS_EXAMPLE)
    info = ModelInfo.model_validate(client.request("GET", "/v1/metadata").json())
    assert info.model_version == "vintegration"
    feedback = client.request(
        "POST",
        "/v1/feedback",
        json={"prediction_id": str(predictions[7].prediction_id), "observed_default": 1},
    )
    assert feedback.status_code == 200, feedback.text
    bad = client.request("POST", "/v1/predict", json=bodies[0] | {"age_days": "old"})
    assert bad.status_code == 422 and bad.json()["details"][0]["loc"] == ["age_days"]
    metrics = client.request("GET", "/metrics").text
    for name in (
        "loan_predictions_total",
        "loan_prediction_latency_seconds",
        "loan_prediction_errors_total",
        "loan_default_probability",
        "loan_model_info",
    ):
        assert name in metrics, name
    model_info = [line for line in metrics.splitlines() if line.startswith("loan_model_info")]
    assert any('model_version="vintegration"' in line for line in model_info), model_info
    client.close()


def test_sigkilled_worker_loses_no_answered_prediction(
    http_server: RunningService, bodies: list[dict]
) -> None:
    answered: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def load(offset: int) -> None:
        with httpx.Client(base_url=http_server.url, timeout=10) as client:
            i = offset
            while not stop.is_set():
                try:
                    response = client.post("/v1/predict", json=bodies[i % len(bodies)])
                except httpx.TransportError as exc:  # the killed worker's connections
                    failures.append(type(exc).__name__)
                    continue
                if response.status_code == 200:
                    answered.append(response.json()["prediction_id"])
                i += 1

    threads = [threading.Thread(target=load, args=(k * 13,), daemon=True) for k in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.0)
        workers = subprocess.run(
            ["pgrep", "-P", str(http_server.process.pid), "-f", "service-name loan_default "],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert workers, "no API worker found"
        os.kill(int(workers[0]), signal.SIGKILL)
        time.sleep(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert len(answered) > 50
    missing = set(answered) - _logged_ids(http_server.home)
    assert not missing, f"{len(missing)} answered predictions are not in the traffic log"


def test_same_input_same_probability_over_rest_and_batch(
    http_server: RunningService, bodies: list[dict]
) -> None:
    with httpx.Client(base_url=http_server.url, timeout=30) as client:
        singles = [client.post("/v1/predict", json=b).json() for b in bodies[:20]]
        batch = client.post("/v1/predict_batch", json={"applications": bodies[:20]}).json()
    np.testing.assert_array_equal(
        [s["default_probability"] for s in singles],
        [p["default_probability"] for p in batch["predictions"]],
    )


def test_bentofile_packages_equal_the_project_dependencies() -> None:
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert bentofile["python"]["packages"] == project["dependencies"]
    assert bentofile["python"]["lock_packages"] is False


def test_bento_builds_offline_with_model_and_healthcheck(
    http_server: RunningService, tmp_path: Path
) -> None:
    """``bentoml build`` packs the pinned model; the Dockerfile is non-root with a HEALTHCHECK."""
    bentoml_cli = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "bentoml"
    uv_dir = str(Path.home() / ".local" / "bin")  # a Bento v2 build runs uv (make puts it there)
    result = subprocess.run(
        [str(bentoml_cli), "build", "--arg", "model_tag=loan_default:vintegration", "-o", "tag"],
        cwd=ROOT,
        env=os.environ | {"PATH": f"{uv_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tag = result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    import bentoml

    bento = bentoml.get(tag)
    manifest = yaml.safe_load((Path(bento.path) / "bento.yaml").read_text())
    assert [m["tag"] for m in manifest["services"][0]["models"]] == ["loan_default:vintegration"]
    dockerfile = (Path(bento.path) / "env" / "docker" / "Dockerfile").read_text()
    assert "USER bentoml" in dockerfile  # BentoML's v2 Dockerfile runs as a non-root user
    # The HEALTHCHECK on /readyz is added by the container build's rewrite of this Dockerfile
    # (deploy/container/image.py, tests/deploy/test_image_build.py).
    from deploy.container.image import multi_stage

    base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM"))
    final = multi_stage(dockerfile, base_image=base, wheels_url="http://127.0.0.1:3480")
    assert "/readyz" in final.split("HEALTHCHECK", 1)[1]
    users = [line for line in final.splitlines() if line.startswith("USER ")]
    assert users[-1] == "USER bentoml"  # the final user
