"""What authentication and audit cost: ``/v1/predict`` at c=64 with both on, against both off.

Usage::

    .venv/bin/python bench/security.py [--seconds 10] [--rounds 2] [--model-tag loan_default:v...]

The same ``bentoml serve`` is started twice per round on 127.0.0.1:3510, alternately (a) with
authentication off and no audit (``LOAN_AUTH_MODE=off``, development, ``LOAN_AUDIT_ENABLED=
false``) and (b) with ES256 bearer tokens checked on every call and every decision audited
(hash chain, signed checkpoints); the load is ``wrk -t1 -c64`` posting one application (with a
token in b). Prints requests/s, p99 and errors of each run and the ratio of the medians
(target: >= 85%). Without ``--model-tag`` a realistic model (300 trees x 31 leaves on 20,000
generated applications) is trained into a temporary Bento store, as ``bench/serve.py`` does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PORT = 3510

from servers import BENTOML, server  # noqa: E402  (bench/ is on sys.path)

COMMAND = [BENTOML, "serve", "service:LoanDefaultService", "--host", "127.0.0.1",
           "--port", str(PORT)]  # fmt: skip


def wrk(body: bytes, token: str | None, seconds: float, folder: Path) -> dict[str, float]:
    """``wrk -t1 -c64`` posting ``body``: requests/s, p99 (ms) and non-2xx answers."""
    script = folder / "post.lua"
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = [[{body.decode()}]]",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds:g}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{PORT}/v1/predict"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    script.unlink()  # it holds a token
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model-tag", default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk (make bench-security installs it)")
        return 2
    home = Path(tempfile.mkdtemp(prefix="bench-security-"))
    try:
        return _run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(args: argparse.Namespace, home: Path) -> int:
    os.environ.setdefault("BENTOML_HOME", str(home / "bentoml"))
    os.environ["LOAN_HOME"] = str(home)
    import orjson

    from loan_default.data.generate import generate_applications
    from loan_default.security.keys import generate_dev_keys
    from loan_default.security.settings import SecuritySettings
    from loan_default.security.tokens import mint_token
    from tests.runners.tiny_model import payloads

    sys.path.insert(0, str(ROOT / "bench"))
    from servers import train_bench_model

    tag = args.model_tag or train_bench_model(20_000, seed=0)
    generate_dev_keys(home / "security")
    token = mint_token(SecuritySettings(home=home), subject="bench", roles=["underwriter"],
                       ttl_seconds=3600)  # fmt: skip
    body = orjson.dumps(payloads(generate_applications(1, seed=11))[0])
    base = dict(os.environ, LOAN_MODEL_TAG=tag, LOAN_GRPC_PORT="3511", OMP_NUM_THREADS="1")
    configs = {
        "off": base | {"LOAN_AUTH_MODE": "off", "LOAN_ENVIRONMENT": "development",
                       "LOAN_AUDIT_ENABLED": "false"},
        "auth+audit": base | {"LOAN_AUTH_MODE": "jwt", "LOAN_ENVIRONMENT": "production",
                              "LOAN_AUDIT_ENABLED": "true"},
    }  # fmt: skip
    print(f"model {tag}; /v1/predict, wrk -t1 -c64, {args.seconds:g} s, {args.rounds} rounds")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for round_ in range(args.rounds):
        for name, env in configs.items():
            with server(f"security-{name}", COMMAND, env, PORT, start_timeout=180):
                wrk(body, token if name != "off" else None, 2, home)  # warm-up
                result = wrk(body, token if name != "off" else None, args.seconds, home)
            runs[name].append(result)
            figures = f"p99 {result['p99_ms']:6.1f} ms  errors {result['errors']:.0f}"
            print(f"round {round_ + 1} {name:11} {result['rps']:8,.0f} req/s  {figures}",
                  flush=True)  # fmt: skip
    off = statistics.median(r["rps"] for r in runs["off"])
    on = statistics.median(r["rps"] for r in runs["auth+audit"])
    print(f"auth+audit / off: {on:,.0f} / {off:,.0f} req/s = {on / off:.0%} (target >= 85%)")
    return 0 if on / off >= 0.85 else 1


if __name__ == "__main__":
    raise SystemExit(main())
