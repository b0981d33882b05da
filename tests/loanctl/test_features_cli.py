"""``loanctl data import`` -> ``features apply|materialize|status``: a home's whole cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loan_default.data.generate import generate_applications
from loan_default.feature_store.online import FeastLookup
from loan_default.feature_store.settings import FeatureStoreSettings
from loanctl.cli import run

pytestmark = pytest.mark.slow


def _loanctl(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    monkeypatch.setattr("sys.argv", ["loanctl", *args])
    with pytest.raises(SystemExit) as info:
        run()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_import_apply_materialize_status_then_serve_a_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOAN_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    code, _, err = _loanctl(monkeypatch, capsys, "features", "status")
    assert code == 2 and "loanctl features apply" in err  # not applied yet: said plainly
    frame = generate_applications(400, seed=4)
    data = tmp_path / "applications.parquet"
    frame.to_parquet(data)
    out_file = str(tmp_path / "c.parquet")
    code, out, _ = _loanctl(monkeypatch, capsys, "data", "import", "--data", str(data),
                            "--source", "canonical", "--out", out_file)  # fmt: skip
    assert code == 0 and "bureau table: 400 row(s) added" in out
    code, out, _ = _loanctl(monkeypatch, capsys, "features", "apply")
    assert code == 0 and "bureau_v1, client_history_v1" in out
    code, out, _ = _loanctl(monkeypatch, capsys, "features", "materialize",
                            "--end", "2026-11-02T00:00:00")  # fmt: skip
    assert code == 0 and "online store loaded up to 2026-11-02 00:00:00 UTC" in out
    code, out, _ = _loanctl(monkeypatch, capsys, "features", "status")
    table = [line for line in out.splitlines() if str(tmp_path) not in line]
    assert code == 0 and "bureau_v1@" in out and max(map(len, table)) <= 80
    assert f"{frame['client_id'].nunique():,}" in out
    # the latest application of one client is what the online store serves for it
    latest = frame.sort_values("application_date").groupby("client_id").tail(1)
    row = latest[latest["score_source_2"].notna()].iloc[0]
    stored = FeastLookup(FeatureStoreSettings().repo_path).lookup([row["client_id"]])[0]
    assert stored is not None and stored.values["score_source_2"] == row["score_source_2"]
    control = [json.loads(line) for path in (tmp_path / "audit").rglob("control*.jsonl")
               for line in path.read_text().splitlines()]  # fmt: skip
    events = {entry.get("event") for entry in control}
    assert {"features.applied", "features.materialized"} <= events
    assert all(e["subject"].startswith("os:") for e in control if e["event"].startswith("feat"))
    monkeypatch.setenv("LOAN_RBAC_POLICY", str(_policy_without_local_roles(tmp_path)))
    code, _, err = _loanctl(monkeypatch, capsys, "features", "materialize")
    assert code == 2 and "'features:manage'" in err  # a caller without the role is refused


def _policy_without_local_roles(tmp_path: Path) -> Path:
    import yaml

    from loan_default.security.settings import SecuritySettings

    policy = yaml.safe_load(SecuritySettings().rbac_policy.read_text())
    policy["local_roles"] = []
    path = tmp_path / "rbac.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path
