from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from loan_default.data.generate import generate_applications
from loanctl.demo_enrichment import app


def test_the_demo_store_knows_the_clients_of_the_demo_replays(tmp_path: Path) -> None:
    data, out = tmp_path / "train.parquet", tmp_path / "store.jsonl"
    generate_applications(300, seed=7).to_parquet(data)
    args = ["store", "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--replay-seed", "101", "--replay-rows", "200"])
    assert result.exit_code == 0, result.output
    stored = {json.loads(line)["client_id"] for line in out.read_text().splitlines()}
    replayed = set(generate_applications(200, seed=101, shift="income_drop")["client_id"].dropna())
    trained = set(generate_applications(300, seed=7)["client_id"].dropna())
    assert replayed and replayed <= stored  # a replay's lookups hit
    assert trained <= stored
    assert len(stored) == len(replayed | trained)  # one row per client: its latest
