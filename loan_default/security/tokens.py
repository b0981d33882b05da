"""Bearer token verification (OAuth 2.0 JWTs, PyJWT) and development token minting.

:class:`TokenVerifier` turns an ``Authorization`` header into a :class:`Principal` or raises
:class:`~loan_default.errors.AuthenticationError` saying what is wrong (never echoing the
token). The order of checks matters:

1. the header must be ``Bearer <three base64url parts>``;
2. the token's ``alg`` must be the one algorithm of the key its ``kid`` names (``none`` and
   the RS256 -> HS256 swap fail here, before any cryptography);
3. the signature, then ``exp``, ``nbf``, ``iat``, ``iss``, ``aud`` and the required claims
   (PyJWT), with a small leeway for clock skew.

A verified token is remembered until it expires (a bounded cache keyed by the token string),
so a client reusing its token pays one dictionary lookup per call instead of a signature
check (an ES256 verification costs ~100 us, a third of a prediction).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt

from loan_default.errors import AuthenticationError, ConfigError
from loan_default.security.keys import VerificationKey, load_keys, load_private_key, public_jwk
from loan_default.security.rbac import Principal
from loan_default.security.settings import SecuritySettings

REALM = "loan-default"
CACHE_SIZE = 4096


class InvalidTokenError(AuthenticationError):
    """The token is present but not acceptable (RFC 6750 ``invalid_token``)."""


def challenge(error: AuthenticationError) -> str:
    """The ``WWW-Authenticate`` header for a 401 (RFC 6750 section 3)."""
    if not isinstance(error, InvalidTokenError):
        return f'Bearer realm="{REALM}"'
    description = str(error).replace('"', "'")
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the token has expired (exp)"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf/iat in the future)"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not trusted"),
    (jwt.InvalidAudienceError, "the token is not meant for this service (aud)"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidIssuedAtError, "the token's issued-at time (iat) is invalid"),
]


class TokenVerifier:
    """Verifies bearer tokens against the configured keys.

    Args:
        settings: issuer, audience, leeway, required claims, key files.
    """

    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self._sources = settings.verification_sources()
        self._keys = load_keys(*self._sources)
        self._jwks_mtime = self._mtime()
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._options: Any = {"require": list(settings.jwt_required_claims)}

    def _mtime(self) -> float | None:
        jwks = self._sources[2]
        try:
            return jwks.stat().st_mtime if jwks is not None else None
        except OSError:
            return None

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization`` header value; ``AuthenticationError`` if none."""
        if not authorization:
            raise AuthenticationError("a bearer token is required (Authorization: Bearer ...)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidTokenError("the Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        """The principal of a token, from the cache when it was verified before."""
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            expires, principal = hit
            if now <= expires:
                return principal
            del self._cache[token]
        principal, expires = self._verify(token)
        self._cache[token] = (expires, principal)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    def _key_for(self, header: dict[str, Any]) -> VerificationKey:
        kid = header.get("kid")
        if kid is None:
            if len(self._keys) != 1:
                raise InvalidTokenError("the token has no key id (kid) and several keys are "
                                        "trusted")  # fmt: skip
            return next(iter(self._keys.values()))
        key = self._keys.get(str(kid))
        if key is None and self._mtime() != self._jwks_mtime:  # the JWKS file was rotated
            self._keys = load_keys(*self._sources)
            self._jwks_mtime = self._mtime()
            self._cache.clear()
            key = self._keys.get(str(kid))
        if key is None:
            raise InvalidTokenError(f"unknown key id (kid) {str(kid)[:64]!r}")
        return key

    def _verify(self, token: str) -> tuple[Principal, float]:
        if token.count(".") != 2:
            raise InvalidTokenError("malformed token: not a JWT (three base64url parts)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidTokenError("malformed token: not base64url-encoded JSON") from None
        alg = str(header.get("alg", ""))
        if alg.lower() == "none":
            raise InvalidTokenError("unsigned tokens (alg 'none') are refused")
        key = self._key_for(header)
        if alg != key.algorithm:
            raise InvalidTokenError(
                f"algorithm {alg[:16]!r} is not allowed for key {key.kid!r} (only {key.algorithm})"
            )
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_seconds,
                options=self._options,
            )
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidTokenError(f"the token lacks the required claim {exc.claim!r}") from None
        except jwt.PyJWTError as exc:
            for kind, reason in _REASONS:
                if isinstance(exc, kind):
                    raise InvalidTokenError(reason) from None
            raise InvalidTokenError("malformed token") from None
        principal = Principal.from_claims(claims, roles_claim=s.jwt_roles_claim)
        return principal, float(claims["exp"]) + s.jwt_leeway_seconds


def mint_token(
    settings: SecuritySettings,
    *,
    subject: str,
    roles: list[str],
    ttl_seconds: int = 3600,
    key_file: Path | None = None,
    not_before: float | None = None,
) -> str:
    """A token signed with the development key (ES256) or the configured HS256 secret.

    This is for development and tests: in production tokens come from the identity provider.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": int(not_before) if not_before is not None else now,
        "exp": now + ttl_seconds,
        settings.jwt_roles_claim: roles,
    }
    if key_file is None and settings.jwt_secret_file is not None:
        from loan_default.security.keys import _key_from_secret

        key = _key_from_secret(settings.jwt_secret_file)
        return jwt.encode(claims, key.key, algorithm="HS256", headers={"kid": key.kid})
    path = key_file or settings.dev_jwt_private_key_path
    private = load_private_key(path, what="development token key")
    try:
        jwk = public_jwk(private.public_key())
    except ConfigError:
        raise ConfigError(f"{path}: the development key must be EC P-256 or RSA") from None
    return jwt.encode(claims, private, algorithm=jwk["alg"], headers={"kid": jwk["kid"]})
