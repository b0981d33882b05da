"""The RBAC policy: the shipped roles, no default grant, typos refused, 403 names the permission."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_default.errors import ConfigError, PermissionDeniedError
from loan_default.security.rbac import Policy, Principal
from loan_default.security.settings import SecuritySettings

API = ["predict", "predict_batch", "explain", "metadata", "feedback"]
EXPECTED = {
    "underwriter": {"predict", "predict_batch"},
    "analyst": {"predict", "predict_batch", "explain", "metadata"},
    "ml-engineer": {"feedback", "metadata"},
    "auditor": {"metadata"},
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(SecuritySettings().rbac_policy)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_shipped_roles_grant_exactly_their_api_operations(policy: Policy, role: str) -> None:
    who = Principal("x", frozenset({role}))
    assert {op for op in API if policy.allows(who, op)} == EXPECTED[role]


def test_no_role_no_permission_and_403_names_it(policy: Policy) -> None:
    nobody = Principal("mallory", frozenset({"not-a-role"}))
    for operation in policy.operations:
        assert not policy.allows(nobody, operation)
    with pytest.raises(PermissionDeniedError, match="'explain'") as caught:
        policy.require(Principal("u", frozenset({"underwriter"})), "explain")
    assert caught.value.permission == "explain" and caught.value.status_code == 403


def test_no_role_holds_every_permission(policy: Policy) -> None:
    everything = set(policy.operations.values())
    assert all(set(granted) != everything for granted in policy.roles.values())


def test_audit_read_only_for_auditors(policy: Policy) -> None:
    holders = {r for r, p in policy.roles.items() if "audit:read" in p}
    assert holders == {"auditor"}


def test_a_typo_in_a_role_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rbac.yaml"
    path.write_text("operations: {predict: predict}\nroles: {underwriter: [predcit]}\n")
    with pytest.raises(ConfigError, match="predcit"):
        Policy.load(path)
