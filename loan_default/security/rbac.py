"""Role-based access control: who a caller is (:class:`Principal`) and what it may do.

The policy lives in ``configs/rbac.yaml``: each operation (an API endpoint, the same for REST
and gRPC, or a ``loanctl`` command) needs one permission, and each role grants a list of
permissions. Nothing is granted by default and there is no wildcard; a role naming a
permission no operation uses is a configuration error (a typo would otherwise grant nothing
silently).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from loan_default.errors import ConfigError, PermissionDeniedError


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        subject: the token's ``sub`` (or ``os:<user>`` for a local ``loanctl``, ``system:...``
            for the platform's own processes).
        roles: the roles it holds.
        authenticated: False for the anonymous caller of a development service.
    """

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = True

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, roles_claim: str = "roles") -> Principal:
        """From verified JWT claims; ``roles`` may be a list or a space-separated string."""
        raw = claims.get(roles_claim) or []
        roles = raw.split() if isinstance(raw, str) else [str(r) for r in raw if isinstance(r, str)]
        return cls(str(claims["sub"])[:256], frozenset(roles))

    @classmethod
    def anonymous(cls) -> Principal:
        """The caller when authentication is off (development only): every permission."""
        return cls("anonymous (authentication off)", frozenset(), authenticated=False)

    @classmethod
    def system(cls, name: str) -> Principal:
        """The platform acting on its own (the monitoring sidecar pausing scoring)."""
        return cls(f"system:{name}", frozenset(), authenticated=False)

    @classmethod
    def local_user(cls, roles: frozenset[str]) -> Principal:
        """The operating-system account running ``loanctl`` without a token."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(f"os:{user}", roles)


class PolicyFile(BaseModel):
    """The layout of ``configs/rbac.yaml``."""

    operations: dict[str, str] = Field(description="Operation -> the permission it needs.")
    roles: dict[str, list[str]] = Field(description="Role -> the permissions it grants.")
    local_roles: list[str] = Field(
        default_factory=list, description="Roles of ``loanctl`` run without a token."
    )


class Policy:
    """Roles -> permissions, operations -> permission.

    Args:
        operations: the permission each operation needs.
        roles: the permissions each role grants.
        local_roles: roles of a local ``loanctl`` without a token.
    """

    def __init__(
        self,
        operations: Mapping[str, str],
        roles: Mapping[str, list[str]],
        local_roles: list[str] | None = None,
    ) -> None:
        self.operations = dict(operations)
        known = set(self.operations.values())
        for role, permissions in roles.items():
            unknown = sorted(set(permissions) - known)
            if unknown:
                raise ConfigError(
                    f"rbac: role {role!r} grants {', '.join(unknown)}, which no operation "
                    f"needs (known: {', '.join(sorted(known))})"
                )
        self.roles = {role: frozenset(p) for role, p in roles.items()}
        missing = sorted(set(local_roles or []) - set(self.roles))
        if missing:
            raise ConfigError(f"rbac: local_roles names unknown roles: {', '.join(missing)}")
        self.local_roles = frozenset(local_roles or [])

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read ``configs/rbac.yaml``; ``ConfigError`` naming the file and the problem."""
        path = Path(path)
        try:
            data = PolicyFile.model_validate(yaml.safe_load(path.read_text()))
        except OSError as exc:
            raise ConfigError(f"rbac policy {path}: {exc.strerror}") from None
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"rbac policy {path}: {exc}") from None
        return cls(data.operations, data.roles, data.local_roles)

    def permission(self, operation: str) -> str:
        try:
            return self.operations[operation]
        except KeyError:
            raise ConfigError(f"rbac: operation {operation!r} has no permission in the "
                              "policy") from None  # fmt: skip

    def permissions(self, principal: Principal) -> frozenset[str]:
        granted: set[str] = set()
        for role in principal.roles:
            granted |= self.roles.get(role, frozenset())
        return frozenset(granted)

    def allows(self, principal: Principal, operation: str) -> bool:
        if not principal.authenticated:
            return principal.subject.startswith("anonymous")  # auth off: development only
        needed = self.permission(operation)
        return any(needed in self.roles.get(role, ()) for role in principal.roles)

    def require(self, principal: Principal, operation: str) -> None:
        """Raise :class:`PermissionDeniedError` naming the permission ``operation`` needs."""
        if not self.allows(principal, operation):
            needed = self.permission(operation)
            roles = ", ".join(sorted(principal.roles)) or "none"
            raise PermissionDeniedError(
                f"{operation} needs the permission {needed!r}, which the roles of "
                f"{principal.subject!r} ({roles}) do not grant",
                permission=needed,
            )


CURRENT_PRINCIPAL: ContextVar[Principal | None] = ContextVar("loan_principal", default=None)
"""The caller of the request being served: set by the transport edge (``runners.edge``) in the
request's own task, read into each :class:`~loan_default.api.CallContext`."""

_ACTOR: ContextVar[Principal | None] = ContextVar("loan_default_actor", default=None)


def acting_as(principal: Principal) -> None:
    """Make ``principal`` the author of the model and control changes this context makes."""
    _ACTOR.set(principal)


def actor(default: str = "platform") -> Principal:
    """Who is making a change now: the guarded CLI's caller, else ``system:<default>``."""
    return _ACTOR.get() or Principal.system(default)
