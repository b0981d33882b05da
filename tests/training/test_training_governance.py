"""Governed promotion through ``loanctl models``, on the session's real SQLite MLflow registry.

Promotion without approval is refused naming the gate; approving needs a role with
``models:approve`` (model-risk, from a bearer token); a failed fairness gate is set aside only
by a recorded waiver; promotion then succeeds; rollback returns; every step is audited; the
inventory shows status, approvals, gates and lineage, as a table and as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loan_default.errors import LoanError
from loan_default.security.audit_verify import entries
from loan_default.security.keys import generate_dev_keys
from loan_default.security.settings import SecuritySettings
from loan_default.security.tokens import mint_token
from loanctl.cli import app
from training import governance, registry

runner = CliRunner()


def _code(result: Any) -> int:
    """The exit code ``loanctl`` gives (its entry point turns a LoanError into its code)."""
    if isinstance(result.exception, LoanError):
        return result.exception.exit_code
    return int(result.exit_code)


@pytest.fixture
def governed(registry_restored: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Gates the tiny model can meet except fairness (AIR must be 1.0: every attribute fails),
    and the registry left as training left it afterwards."""
    config = tmp_path / "governance.yaml"
    config.write_text(
        "approvals_required: 1\nmin_cv_auc: 0.55\nmin_holdout_auc: 0.55\n"
        "max_calibration_error: 0.2\nmin_adverse_impact_ratio: 1.0\nwaivable: [fairness]\n"
    )
    monkeypatch.setenv("LOAN_GOVERNANCE_CONFIG", str(config))
    monkeypatch.delenv("LOAN_TOKEN", raising=False)
    settings = SecuritySettings()
    generate_dev_keys(settings.security_dir)  # keeps keys other tests made
    return registry_restored


def _as(monkeypatch: pytest.MonkeyPatch, role: str, sub: str) -> None:
    token = mint_token(SecuritySettings(), subject=sub, roles=[role], ttl_seconds=600)
    monkeypatch.setenv("LOAN_TOKEN", token)


def _governance_events(version: str) -> list[dict[str, Any]]:
    found = entries(SecuritySettings().audit_path)
    return [e for e in found if str(e.get("mlflow_version")) == version
            and str(e.get("event", "")).startswith("model.")]  # fmt: skip


def _promote_with_waivers(version: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Promote; for each refused fairness gate record a waiver (model-risk) and retry."""
    waived: list[str] = []
    for _ in range(6):
        monkeypatch.delenv("LOAN_TOKEN", raising=False)  # ml-engineer promotes
        result = runner.invoke(app, ["models", "promote", version])
        if result.exit_code == 0:
            return waived
        assert _code(result) == 3, result.output
        gate = str(result.exception).split("gate ", 1)[1].split(" failed", 1)[0]
        assert gate.startswith("fairness."), result.exception
        _as(monkeypatch, "model-risk", "risk.officer")
        out = runner.invoke(app, ["models", "waive", version, "--gate", gate, "--by",
                                  "R. Officer", "--reason", "synthetic data, test"])  # fmt: skip
        assert out.exit_code == 0, out.output
        waived.append(gate)
    raise AssertionError("promotion never succeeded")


def test_promotion_needs_an_approval_passing_gates_and_is_audited(
    governed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = governed.mlflow_version
    champion_before = registry.resolve_alias("champion")  # other tests may have set one
    refused = runner.invoke(app, ["models", "promote", version])
    assert _code(refused) == 3
    message = str(refused.exception)
    assert "\n" not in message and "gate approval failed" in message
    assert registry.resolve_alias("champion") == champion_before

    # The local account (ml-engineer, auditor) may not approve: separation of duties.
    denied = runner.invoke(app, ["models", "approve", version, "--by", "Me", "--reason", "ok"])
    assert _code(denied) == 2 and "models:approve" in str(denied.exception)

    _as(monkeypatch, "model-risk", "risk.officer")
    approved = runner.invoke(app, ["models", "approve", version, "--by", "R. Officer",
                                   "--reason", "validated per SR 11-7"])  # fmt: skip
    assert approved.exit_code == 0, approved.output
    mv = registry.client().get_model_version(registry.MODEL_NAME, version)
    assert governance.status(mv) == "approved"
    (entry,) = governance.approvals(mv)
    assert entry["by"] == "R. Officer" and entry["role"] == "model-risk"
    assert entry["subject"] == "risk.officer" and entry["reason"] == "validated per SR 11-7"

    # An approval does not waive gates: every fairness gate fails at AIR >= 1.0 until waived.
    waived = _promote_with_waivers(version, monkeypatch)
    assert waived and all(g.startswith("fairness.") for g in waived)
    assert registry.resolve_alias("champion") == governed.bento_tag
    mv = registry.client().get_model_version(registry.MODEL_NAME, version)
    assert governance.status(mv) == "champion"
    gates = {g["gate"]: g for g in governance.gate_results(mv)}
    assert gates["approval"]["passed"] and gates["reason_codes"]["passed"]
    assert all(gates[g]["waived"] for g in waived)

    events = [e["event"] for e in _governance_events(version)]
    for event in ("model.promotion_refused", "model.approved", "model.gate_waived",
                  "model.promoted"):  # fmt: skip
        assert event in events


def test_a_gate_that_may_not_be_waived_is_refused(
    governed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "model-risk", "risk.officer")
    result = runner.invoke(app, ["models", "waive", governed.mlflow_version, "--gate",
                                 "approval", "--by", "X", "--reason", "hurry"])  # fmt: skip
    assert _code(result) == 2 and "cannot be waived" in str(result.exception)


def test_rollback_returns_to_the_previous_champion_and_list_shows_it(
    governed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = governed.mlflow_version
    client = registry.client()
    source = str(client.get_model_version(registry.MODEL_NAME, first).source)
    second = registry.register(source, run_id=governed.mlflow_run_id,
                               bento_tag=governed.bento_tag, mlflow_client=client)  # fmt: skip
    for version in (first, second):
        _as(monkeypatch, "model-risk", "risk.officer")
        ok = runner.invoke(app, ["models", "approve", version, "--by", "R. Officer",
                                 "--reason", "validated"])  # fmt: skip
        assert ok.exit_code == 0, ok.output
        _promote_with_waivers(version, monkeypatch)
    statuses = {v: governance.status(client.get_model_version(registry.MODEL_NAME, v))
                for v in (first, second)}  # fmt: skip
    assert statuses == {first: "retired", second: "champion"}

    back = runner.invoke(app, ["models", "rollback"])
    assert back.exit_code == 0, back.output
    mv_first = client.get_model_version(registry.MODEL_NAME, first)
    assert governance.status(mv_first) == "champion"
    assert "model.rolled_back" in [e["event"] for e in _governance_events(first)]

    listing = runner.invoke(app, ["models", "list", "--json"])
    assert listing.exit_code == 0, listing.output
    rows = {r["mlflow_version"]: r for r in json.loads(listing.output)}
    assert rows[first]["status"] == "champion" and rows[second]["status"] == "retired"
    assert rows[first]["approvals"][0]["role"] == "model-risk"
    assert rows[first]["data_hash"] and rows[first]["run_id"] == governed.mlflow_run_id
    assert rows[first]["gates"] and rows[first]["decision_rule"] == "target_approval_rate"
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "champion" in table.output and "R. Officer" in table.output
