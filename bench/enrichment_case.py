"""The enrichment case of ``bench/serve.py`` (``--enrichment``, ``--enrichment-only``): the
service with a feature store in memory and read in a thread, beside the one without, measured
alternately with the same keyed bodies (what is measured and why: ``bench/enrichment.py``)."""

from __future__ import annotations

import urllib.request
from contextlib import ExitStack
from pathlib import Path

import enrichment
import orjson
from loadgen import LoadResult
from servers import BENTOML, load, report, row, server

ENRICHED_PORT = 3307
"""The service with a feature store in memory (gRPC +1), and read in a thread (+2, +3)."""


def enriched_servers(
    env: dict[str, str], home: Path, singles: list[dict]
) -> dict[str, tuple[list[str], dict[str, str], int]]:
    """The service with a feature store of every client's bureau fields: in memory (read on
    the loop) and the same file through a store that blocks (read in a thread); each in a home
    of its own (traffic log, BentoML's metrics folder), sharing the model store."""
    store = enrichment.write_store(singles, home / "bureau.jsonl")
    stores = {
        "bentoml_enriched": {"LOAN_FEATURE_STORE": f"memory:{store}"},
        "bentoml_enriched_thread": {
            "LOAN_FEATURE_STORE": f"feast:{store}",
            "LOAN_FEATURE_STORE_FEAST_FACTORY": "bench.enrichment:BlockingFileLookup",
        },
    }
    models = Path(env.get("BENTOML_HOME", Path.home() / "bentoml")) / "models"
    made = {}
    for offset, (name, settings) in enumerate(stores.items()):
        own = home / name
        (own / "bentoml").mkdir(parents=True)
        (own / "bentoml" / "models").symlink_to(models, target_is_directory=True)
        port = ENRICHED_PORT + 2 * offset
        server_env = dict(env, LOAN_HOME=str(own), BENTOML_HOME=str(own / "bentoml"))
        server_env.update(LOAN_GRPC_PORT=str(port + 1), **settings)
        command = [BENTOML, "serve", "service:LoanDefaultService", "--host", "127.0.0.1"]
        made[name] = ([*command, "--port", str(port)], server_env, port)
    return made


def measure(
    ports: dict[str, int], singles: list[dict], c: int, seconds: float, rounds: int = 2
) -> dict[str, list[LoadResult]]:
    """``/v1/predict`` with the same keyed bodies on each server, alternated (at least two
    rounds: off, memory, thread, then thread, memory, off, ...)."""
    bodies = [orjson.dumps(app) for app in enrichment.keyed(singles)]
    names = {"off": "bentoml", "memory": "bentoml_enriched", "thread": "bentoml_enriched_thread"}
    runs: dict[str, list[LoadResult]] = {kind: [] for kind in names}
    kinds = list(names)
    for kind in [k for t in range(max(rounds, 2)) for k in (kinds if t % 2 == 0 else kinds[::-1])]:
        res = load(ports[names[kind]], "/v1/predict", bodies, c, seconds)
        runs[kind].append(res)
        row(names[kind], f"keyed c={c}", res)
    return runs


def case(
    targets: dict, singles: list[dict], c: int, seconds: float, strict: bool, rounds: int
) -> int:
    """``--enrichment-only``: both servers up, the enrichment case, its verdict."""
    ports = {name: port for name, (_, _, port) in targets.items()}
    with ExitStack() as stack:
        for name, (cmd, target_env, port) in targets.items():
            stack.enter_context(server(name, cmd, target_env, port))
        check = orjson.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{ports['bentoml_enriched']}/v1/predict",
            data=orjson.dumps(enrichment.keyed(singles)[0]),
            headers={"Content-Type": "application/json"},
        ), timeout=30).read())  # fmt: skip
        print(f"enriched answer: {check.get('enrichment')}", flush=True)
        runs = measure(ports, singles, c, seconds, rounds)
    met = report(enrichment.verdict(runs, c))
    return 1 if strict and not met else 0
