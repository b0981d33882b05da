"""A real ``bentoml serve`` of a linear model, fuzzed and starved of disk.

* **Fuzzing** (issue 9): schemathesis 4 generates requests for every operation of the served
  ``/docs.json`` (fixed seed); not one may be a server error or break its documented response
  schema. A logistic regression is served because it is the champion kind that broke: a
  non-finite feature reaches scikit-learn's input check (500), and its contributions grow with
  the input (an explanation of 1e302).
* **A full disk** (issue 9, "Done when"): the traffic folder is a small tmpfs, filled while
  clients score; calls that cannot be recorded get 503 with ``Retry-After`` (never 500), and
  once the space is freed every answered ``prediction_id`` is readable in the log.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loan_default.data.generate import generate_applications
from loan_default.traffic import BadLine, Checkpoint, read_new
from tests.faults import fill, tmpfs_or_folder
from tests.integration.serving import bentoml_serve, free_port
from tests.runners.tiny_model import payloads, save, training_frame

pytestmark = pytest.mark.slow

FUZZ_SEED = 20261201
FUZZ_EXAMPLES = 100
"""Examples per operation and phase: ~1,400 requests, about a minute on 2 busy cores."""


def _linear_model_tag() -> str:
    """A logistic regression trained by the training code's own candidate pipeline."""
    from loan_default.model import ScoringModel
    from loan_default.schema import LABEL
    from training.candidates import build_pipeline, fit_params, scoring_estimator
    from training.config import CandidateConfig

    frame = training_frame()
    candidate = CandidateConfig(name="fuzz_lr", algorithm="logistic_regression")
    pipeline = build_pipeline(candidate, seed=7)
    pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL].to_numpy(), **fit_params(candidate))
    features, estimator = scoring_estimator(pipeline)
    return save(ScoringModel(features, estimator), frame, version="vfuzz-linear")


class Served:
    def __init__(self, url: str, traffic: Path, no_tmpfs: str | None) -> None:
        self.url = url
        self.traffic = traffic
        self.no_tmpfs = no_tmpfs
        """Why the traffic folder is not a small tmpfs (the full-disk test skips then)."""


@pytest.fixture(scope="module")
def linear_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tag = _linear_model_tag()
    folder = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    # 64 MiB hold the fuzzer's traffic; batches are capped so that it stays well below that.
    traffic = folder / "traffic"
    with tmpfs_or_folder(traffic, "64m") as no_tmpfs:
        env = {
            "LOAN_TRAFFIC_DIR": str(traffic),
            "LOAN_PAUSE_CHECK_SECONDS": "0",
            "LOAN_MAX_BATCH_ROWS": "50",
        }
        with bentoml_serve(
            tag, http_port=port, grpc_port=free_port(), log=folder / "serve.log", env=env
        ):
            yield Served(f"http://127.0.0.1:{port}", traffic, no_tmpfs)


def _har_entries(folder: Path) -> list[dict[str, Any]]:
    (har,) = folder.glob("*.json")
    entries: list[dict[str, Any]] = json.loads(har.read_text())["log"]["entries"]
    return entries


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    linear_server: Served, tmp_path: Path
) -> None:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", f"{linear_server.url}/docs.json",
        "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance,unsupported_method",
        "--seed", str(FUZZ_SEED), "--max-examples", str(FUZZ_EXAMPLES),
        "--phases", "examples,coverage,fuzzing", "--workers", "1",
        "--no-shrink", "--continue-on-failure", "--request-timeout", "30",
        "--report", "har", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path
    )
    entries = _har_entries(tmp_path)
    statuses = collections.Counter(
        (e["request"]["method"], httpx.URL(e["request"]["url"]).path, e["response"]["status"])
        for e in entries
    )
    server_errors = {k: n for k, n in statuses.items() if k[2] >= 500}
    print(f"schemathesis: {len(entries)} requests; statuses {sorted(statuses.items())}")
    assert server_errors == {}, done.stdout[-4000:]
    assert done.returncode == 0, done.stdout[-6000:]
    assert len(entries) >= 1000
    documented = set(httpx.get(f"{linear_server.url}/docs.json").json()["paths"])
    assert documented <= {path for _, path, _ in statuses}


class Load:
    """Clients scoring in threads until stopped; every answer is kept."""

    def __init__(self, url: str, bodies: list[dict[str, Any]], threads: int = 4) -> None:
        self.url = url
        self.bodies = bodies
        self.answered: list[str] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.refusals: list[httpx.Response] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            i = n
            while not self._stop.is_set():
                i += 1
                if i % 3:
                    response = client.post("/v1/predict", json=self.bodies[i % len(self.bodies)])
                    ids = [response.json()["prediction_id"]] if response.status_code == 200 else []
                else:
                    start = (i * 7) % (len(self.bodies) - 20)
                    body = {"applications": self.bodies[start : start + 20]}
                    response = client.post("/v1/predict_batch", json=body)
                    ok = response.status_code == 200
                    ids = [p["prediction_id"] for p in response.json()["predictions"]] if ok else []
                with self._lock:
                    self.statuses[response.status_code] += 1
                    self.answered.extend(ids)
                    if response.status_code != 200:
                        self.refusals.append(response)

    def wait_for(self, status: int, *, more_than: int = 0, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while self.statuses[status] <= more_than:
            assert time.monotonic() < deadline, f"no {status} in {seconds} s: {self.statuses}"
            time.sleep(0.2)


def test_a_full_traffic_disk_loses_no_answered_prediction(linear_server: Served) -> None:
    if linear_server.no_tmpfs:
        pytest.skip(linear_server.no_tmpfs)
    bodies = payloads(generate_applications(300, seed=5))
    ballast: Path | None = None
    with Load(linear_server.url, bodies) as load:
        load.wait_for(200, more_than=50)
        ballast = fill(linear_server.traffic)  # the disk is full: scoring must refuse
        load.wait_for(503, more_than=20)
        ballast.unlink()  # space returns: scoring resumes
        answered_before = load.statuses[200]
        load.wait_for(200, more_than=answered_before + 50)
    assert set(load.statuses) <= {200, 503}, load.statuses
    for refusal in load.refusals:
        assert refusal.headers["retry-after"].isdigit()
        assert "could not be written" in refusal.json()["error"]
    bad: list[BadLine] = []
    records, _ = read_new(linear_server.traffic, "predictions", Checkpoint(), on_bad=bad.append)
    logged = {r["prediction_id"] for r in records}
    missing = set(load.answered) - logged
    assert not missing, f"{len(missing)} answered predictions are not in the log"
    assert bad == []
    print(f"full-disk run: {dict(load.statuses)}; {len(load.answered)} answered, all logged")
    # The answered ids are known for feedback, too.
    answer = httpx.post(
        f"{linear_server.url}/v1/feedback",
        json={"prediction_id": load.answered[-1], "observed_default": 1},
    )
    assert answer.status_code == 200, answer.text


def test_a_body_shorter_than_its_content_length_times_out_quickly(linear_server: Served) -> None:
    import socket

    url = httpx.URL(linear_server.url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"client_income": 1'
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within" in answer
    assert waited < 10, f"answered after {waited:.1f} s"
