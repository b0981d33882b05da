"""Starting the benchmarks' servers and loading them: the benchmark model, a server process
that is up once it answers, ``wrk`` on a REST path, ``h2load`` on the gRPC ``Predict`` call with
the server's own count of failed calls, and the lines the benchmarks print
(``bench/serve.py``, ``bench/enrichment_case.py``, ``bench/security.py``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from loadgen import LoadResult, h2load_grpc, wrk

ROOT = Path(__file__).resolve().parents[1]
BENTOML = str(ROOT / ".venv" / "bin" / "bentoml")


def train_bench_model(rows: int, seed: int) -> str:
    """A realistic LightGBM model saved to the Bento store; returns its tag."""
    import lightgbm as lgb

    from loan_default.data.generate import generate_applications
    from loan_default.features import FeatureEngineer
    from loan_default.model import ScoringModel
    from loan_default.schema import LABEL
    from tests.runners.tiny_model import save

    frame = generate_applications(rows, seed=seed)
    features = FeatureEngineer().fit(frame)
    estimator = lgb.LGBMClassifier(
        n_estimators=300, num_leaves=31, learning_rate=0.05, random_state=seed, verbose=-1
    )
    estimator.fit(
        features.transform(frame), frame[LABEL], categorical_feature=features.categorical_indices_
    )
    return save(ScoringModel(features, estimator), frame, version="vbench")


@contextmanager
def server(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    cwd: Path = ROOT,
    *,
    start_timeout: float = 120,
) -> Iterator[None]:
    """Start a server in its own process group, wait until it answers, stop it after (its
    log: ``bench-serve-<name>.log`` in the temporary folder)."""
    log = Path(tempfile.gettempdir()) / f"bench-serve-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError as exc:
                if getattr(exc, "code", None) == 404:  # baselines have no /readyz
                    break
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{name} did not start in {start_timeout:g} s; see {log}")
        yield
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server's process group (already gone when the server failed at start-up)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def load(port: int, path: str, bodies: list[bytes], concurrency: int, seconds: float) -> LoadResult:
    """``wrk`` against one REST path, rotating through ``bodies``."""
    return wrk(f"http://127.0.0.1:{port}{path}", bodies, concurrency=concurrency, seconds=seconds)


def grpc_messages(singles: list[dict], root: Path = ROOT) -> tuple[str, list[bytes]]:
    """(``/package.Service/Predict`` path, serialized ``PredictRequest`` messages).

    Built from the service's published ``.proto`` under ``root`` (compiled here by grpc_tools'
    protoc into a descriptor pool of its own, so two versions of the contract can be loaded
    side by side), so the benchmark depends on the gRPC interface only, not on the project's
    Python stubs.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    from grpc_tools import protoc

    found = [p for p in root.rglob("*.proto") if ".venv" not in p.parts and "LoanScoring" in
             p.read_text()]  # fmt: skip
    if len(found) != 1:
        raise RuntimeError(f"expected one .proto declaring LoanScoring, found {found}")
    proto = found[0]
    out = Path(tempfile.mkdtemp(prefix="bench-proto-")) / "set.pb"
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(["protoc", f"-I{proto.parent}", f"-I{include}", "--include_imports",
                        f"--descriptor_set_out={out}", proto.name])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"protoc failed on {proto}")
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    shutil.rmtree(out.parent, ignore_errors=True)
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    service = pool.FindFileByName(proto.name).services_by_name["LoanScoring"]
    request_type = message_factory.GetMessageClass(service.methods_by_name["Predict"].input_type)
    messages = []
    for application in singles:
        request = request_type()
        json_format.ParseDict(application, request.application)  # type: ignore[attr-defined]
        messages.append(request.SerializeToString())
    return f"/{service.full_name}/Predict", messages


def grpc_failures(http_port: int) -> dict[str, int]:
    """gRPC Predict calls answered with a status other than OK so far, by code (/metrics)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read()
    codes: dict[str, int] = {}
    pattern = r"^grpc_server_handled_total\{([^}]*)\} ([0-9.e+]+)$"
    for labels, value in re.findall(pattern, text.decode(), flags=re.M):
        code = re.search(r'grpc_code="([A-Z_]+)"', labels)
        if 'grpc_method="Predict"' in labels and code and code.group(1) != "OK":
            codes[code.group(1)] = codes.get(code.group(1), 0) + int(float(value))
    return codes


def grpc_load(url: str, message: bytes, c: int, seconds: float, http_port: int) -> LoadResult:
    """h2load on the gRPC Predict call, with the server's own count of non-OK answers."""
    before = grpc_failures(http_port)
    res = h2load_grpc(url, message, concurrency=c, seconds=seconds)
    after = grpc_failures(http_port)  # grpc-status != OK (warm-up run included)
    failed = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
    # h2load resets the streams still in flight when its time is up: the server records those
    # as CANCELLED. Shown, not counted as errors.
    cut = failed.pop("CANCELLED", 0)
    detail = f"grpc-status {failed}" if failed else ""
    detail += f" {cut} in flight cut at the end (CANCELLED)" if cut else ""
    if not detail:
        return res
    return replace(res, errors=res.errors + sum(failed.values()),
                   detail=f"{res.detail} {detail}".strip())  # fmt: skip


def report(targets: dict[str, bool]) -> bool:
    for text, ok in targets.items():
        print(f"{'met   ' if ok else 'MISSED'}  {text}")
    return all(targets.values())


def median(runs: list[LoadResult]) -> LoadResult:
    """The run of median throughput (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]


def row(name: str, scenario: str, r: LoadResult, rows: int = 1) -> None:
    per = f"{r.rps * rows:>9,.0f} rows/s" if rows > 1 else f"{r.rps:>9,.0f} req/s "
    print(f"{name:14} {scenario:16} {per} p50 {r.p50 * 1e3:7.2f} ms p99 {r.p99 * 1e3:7.2f} ms "
          f"errors {r.errors}{f' ({r.detail})' if r.detail else ''}", flush=True)  # fmt: skip
