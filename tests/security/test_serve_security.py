"""One real ``bentoml serve`` with authentication, audit, TLS and a data key, over both transports.

The matrix of the issue: every endpoint of REST and gRPC x every way a token can be wrong, plus
the wrong and the right role; only the last gets through. Then TLS (a TLS 1.1 client and a
plain-text client refused), the audit trail of what was served, and the files the run left:
no token or key in any log, no applicant field in clear.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
from loan_default.grpc import messages
from tests.integration.serving import bentoml_serve, free_port
from tests.runners.tiny_model import build, payloads
from tests.security.certs import self_signed
from tests.security.keyset import KeySet, bad_tokens, make_keyset

pytestmark = pytest.mark.slow

# endpoint -> (a role without its permission, a role with it)
ROLES = {
    "predict": ("auditor", "underwriter"),
    "predict_batch": ("auditor", "underwriter"),
    "explain": ("underwriter", "analyst"),
    "metadata": ("underwriter", "analyst"),
    "feedback": ("analyst", "ml-engineer"),
}
REST_STATUS = {"no token": 401, "wrong role": 403, "right role": 200}
GRPC_STATUS = {"wrong role": grpc.StatusCode.PERMISSION_DENIED, "right role": grpc.StatusCode.OK}


@dataclass
class Server:
    keys: KeySet
    base: str
    grpc_target: str
    cert: Path
    log: Path
    bodies: list[dict[str, Any]]
    used_tokens: list[str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("secure-home")
    keys = make_keyset(home)
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    tag, _, frame = build(version="vsecurity-test")
    http_port, grpc_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "bentoml.log"
    env = keys.env() | {
        "LOAN_GRPC_ENABLED": "true",
        "LOAN_DATA_KEY_FILE": str(home / "security" / "data-keys.json"),
        "LOAN_AUDIT_CHECKPOINT_EVERY": "50",
    }
    with bentoml_serve(tag, http_port=http_port, grpc_port=grpc_port, log=log, env=env,
                       tls=(cert, key)):  # fmt: skip
        yield Server(keys, f"https://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", cert, log,
                     payloads(frame.drop(columns=["default"]).iloc[:20]), [])  # fmt: skip


def _rest(server: Server, endpoint: str, authorization: str | None, body: Any) -> httpx.Response:
    headers = {"authorization": authorization} if authorization else {}
    url = f"{server.base}/v1/{endpoint}"
    with httpx.Client(verify=str(server.cert), timeout=60) as client:
        if endpoint == "metadata":
            return client.get(url, headers=headers)
        return client.post(url, json=body, headers=headers)


def _body(server: Server, endpoint: str, prediction_id: str) -> Any:
    if endpoint == "predict_batch":
        return {"applications": server.bodies[:3]}
    if endpoint == "feedback":
        return {"prediction_id": prediction_id, "observed_default": 1}
    return server.bodies[0]


def _grpc_call(
    server: Server, endpoint: str, authorization: str | None, pid: str
) -> grpc.StatusCode:
    credentials = grpc.ssl_channel_credentials(server.cert.read_bytes())
    with grpc.secure_channel(server.grpc_target, credentials) as channel:
        stub = pb_grpc.LoanScoringStub(channel)
        application = messages.application_from_dict(server.bodies[1])
        calls: dict[str, tuple[Any, Any]] = {
            "predict": (stub.Predict, pb.PredictRequest(application=application)),
            "predict_batch": (
                stub.PredictBatch,
                pb.PredictBatchRequest(applications=[application]),
            ),
            "explain": (stub.Explain, pb.ExplainRequest(application=application)),
            "metadata": (stub.Metadata, pb.MetadataRequest()),
            "feedback": (stub.Feedback, pb.FeedbackRequest(prediction_id=pid, observed_default=0)),
        }
        method, request = calls[endpoint]
        metadata = (("authorization", authorization),) if authorization else ()
        try:
            method(request, metadata=metadata, timeout=60)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def prediction_id(server: Server) -> str:
    token = server.keys.token(["underwriter"])
    server.used_tokens.append(token)
    answer = _rest(server, "predict", f"Bearer {token}", server.bodies[0])
    assert answer.status_code == 200, answer.text
    return str(answer.json()["prediction_id"])


@pytest.mark.parametrize("endpoint", sorted(ROLES))
def test_matrix_rest_and_grpc(server: Server, prediction_id: str, endpoint: str) -> None:
    wrong, right = ROLES[endpoint]
    cases: dict[str, str | None] = dict(bad_tokens(server.keys, right))
    cases["wrong role"] = "Bearer " + server.keys.token([wrong], sub="wrong-role")
    cases["right role"] = "Bearer " + server.keys.token([right], sub=f"{right}-user")
    server.used_tokens.extend(h[7:] for h in cases.values() if h)
    seen_rest, seen_grpc = {}, {}
    for case, header in cases.items():
        answer = _rest(server, endpoint, header, _body(server, endpoint, prediction_id))
        seen_rest[case] = answer.status_code
        if answer.status_code == 401:
            assert answer.headers["www-authenticate"].startswith('Bearer realm="loan-default"')
        if answer.status_code == 403:
            assert "permission" in answer.json()["error"]
        seen_grpc[case] = _grpc_call(server, endpoint, header, prediction_id)
    assert seen_rest == {c: REST_STATUS.get(c, 401) for c in cases}, seen_rest
    expected = {c: GRPC_STATUS.get(c, grpc.StatusCode.UNAUTHENTICATED) for c in cases}
    assert seen_grpc == expected, seen_grpc


def test_open_and_guarded_infrastructure_paths(server: Server) -> None:
    with httpx.Client(verify=str(server.cert), timeout=30) as client:
        assert client.get(f"{server.base}/livez").status_code == 200
        ready = client.get(f"{server.base}/readyz")
        assert ready.status_code == 200 and "OFF" not in ready.text
        assert client.get(f"{server.base}/metrics").status_code == 200  # public by default
        assert client.get(f"{server.base}/docs.json").status_code == 401
        token = server.keys.token(["analyst"])
        server.used_tokens.append(token)
        spec = client.get(f"{server.base}/docs.json", headers={"authorization": f"Bearer {token}"})
        assert spec.status_code == 200
        document = spec.json()
        assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
        operation = document["paths"]["/v1/predict"]["post"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"401", "403"} <= set(operation["responses"])
        assert client.get(f"{server.base}/v1/nowhere").status_code == 401


def _handshake(port: int, version: ssl.TLSVersion, cert: Path, alpn: list[str]) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cert)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer the old versions at all
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = version
    context.set_alpn_protocols(alpn)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_tls_1_2_minimum_and_no_plain_text(server: Server, transport: str) -> None:
    port = int((server.base if transport == "rest" else server.grpc_target).rsplit(":", 1)[1])
    alpn = ["http/1.1"] if transport == "rest" else ["h2"]
    assert _handshake(port, ssl.TLSVersion.TLSv1_3, server.cert, alpn) == "TLSv1.3"
    assert _handshake(port, ssl.TLSVersion.TLSv1_2, server.cert, alpn) == "TLSv1.2"
    # The same client, capped at TLS 1.1: the server ends the handshake (an alert or a close).
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        _handshake(port, ssl.TLSVersion.TLSv1_1, server.cert, alpn)
    assert "CERTIFICATE_VERIFY_FAILED" not in str(refused.value)
    token = "Bearer " + server.keys.token(["analyst"])
    if transport == "rest":
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/v1/metadata", headers={"authorization": token},
                      timeout=10)  # fmt: skip
    else:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = pb_grpc.LoanScoringStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Metadata(
                    pb.MetadataRequest(), timeout=10, metadata=(("authorization", token),)
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_audit_trail_of_the_run(server: Server, prediction_id: str) -> None:
    """Every decision served is audited with its caller; the trail verifies; applicant ids are
    pseudonyms."""
    import os
    import subprocess
    import sys

    env = (
        os.environ
        | server.keys.env()
        | {
            "LOAN_DATA_KEY_FILE": str(server.keys.home / "security" / "data-keys.json"),
            "LOAN_TOKEN": server.keys.token(["auditor"], sub="the-auditor"),
        }
    )
    loanctl = str(Path(sys.executable).with_name("loanctl"))
    shown = subprocess.run([loanctl, "audit", "show", "--json", "--limit", "1000",
                            "--subject", "underwriter-user"], env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    # The right-role underwriter scored on predict and predict_batch, REST and gRPC.
    assert {r["endpoint"] for r in rows} == {"predict", "predict_batch"}
    assert all(r["applicant"].startswith("p-") and len(r["inputs_sha256"]) == 64 for r in rows)
    ids = {b.get("application_id") for b in server.bodies} - {None}
    assert not ids & {r["applicant"] for r in rows}
    verified = subprocess.run([loanctl, "audit", "verify"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout
    analyst = env | {"LOAN_TOKEN": server.keys.token(["analyst"])}
    denied = subprocess.run([loanctl, "audit", "show"], capture_output=True, text=True,
                            env=analyst, timeout=120)  # fmt: skip
    assert denied.returncode == 2 and "'audit:read'" in denied.stderr


def test_no_secret_in_any_log_and_no_applicant_field_in_clear(server: Server) -> None:
    """Runs last in this module: greps everything the service wrote."""
    home = server.keys.home
    secrets = [t for t in server.used_tokens if t] + [
        line for path in (home / "security").glob("*") for line in path.read_text().splitlines()
        if len(line) > 20 and "-----" not in line
    ]  # fmt: skip
    data_keys = json.loads((home / "security" / "data-keys.json").read_text())["keys"]
    secrets += list(data_keys.values())
    files = [p for p in home.rglob("*") if p.is_file() and "security" not in p.parts]
    files.append(server.log)
    assert any("audit" in p.parts for p in files) and any("traffic" in p.parts for p in files)
    clear = [str(v) for b in server.bodies for k, v in b.items()
             if k in ("application_id", "client_income", "credit_amount")]  # fmt: skip
    for path in files:
        data = path.read_bytes()
        leaked = [s[:12] for s in secrets if s.encode() in data]
        assert not leaked, f"{path} holds secrets {leaked}"
        if path != server.log:
            assert b"client_income" not in data, path
            assert not [c for c in clear if len(c) > 5 and c.encode() in data], path
