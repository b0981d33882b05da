"""Key material: verification key sets (by ``kid``), development keys.

Every verification key carries the *one* algorithm it may verify (its allow-list): an RSA key
RS256, an EC P-256 key ES256, a shared secret HS256. A token whose header names another
algorithm is refused before any signature check, which defeats both ``alg: none`` and the
classic swap where an RSA public key is used as an HMAC secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from loan_default.errors import ConfigError
from loan_default.security.secret_files import read_secret, write_private

MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class VerificationKey:
    """One key a token may be signed with, and the only algorithm it accepts."""

    kid: str
    algorithm: str
    key: Any  # a cryptography public key, or the HMAC secret bytes


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def public_jwk(public_key: Any, *, kid: str | None = None) -> dict[str, str]:
    """The JWK of an RSA or EC P-256 public key, its ``kid`` the RFC 7638 thumbprint."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = {"e": _b64url_int(numbers.e), "kty": "RSA", "n": _b64url_int(numbers.n)}
        alg = "RS256"
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        point = public_key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(point.x.to_bytes(32, "big")),
            "y": _b64url(point.y.to_bytes(32, "big")),
        }
        alg = "ES256"
    else:
        raise ConfigError(f"unsupported public key type {type(public_key).__name__}: "
                          "use RSA (RS256) or EC P-256 (ES256)")  # fmt: skip
    thumbprint = _b64url(hashlib.sha256(json.dumps(members, separators=(",", ":"),
                                                    sort_keys=True).encode()).digest())  # fmt: skip
    return {**members, "kid": kid or thumbprint[:16], "alg": alg, "use": "sig"}


def _key_from_jwk(jwk: dict[str, Any], *, source: Path) -> VerificationKey:
    from jwt import PyJWK
    from jwt.exceptions import PyJWKError

    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ConfigError(f"{source}: every key needs a 'kid' (keys rotate by kid)")
    inferred = {"RSA": "RS256", "EC": "ES256", "oct": "HS256"}.get(str(jwk.get("kty")))
    algorithm = jwk.get("alg") or inferred
    if algorithm not in {"RS256", "ES256", "HS256"} or (inferred and algorithm[:2] != inferred[:2]):
        raise ConfigError(f"{source}: key {kid!r}: algorithm {algorithm!r} is not allowed for "
                          f"kty {jwk.get('kty')!r} (RS256, ES256 or HS256 only)")  # fmt: skip
    try:
        parsed = PyJWK(jwk, algorithm)
    except PyJWKError as exc:
        raise ConfigError(f"{source}: key {kid!r}: {exc}") from None
    return VerificationKey(kid, algorithm, parsed.key)


def _key_from_pem(path: Path) -> VerificationKey:
    try:
        public_key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"LOAN_JWT_PUBLIC_KEY_FILE: cannot load {path}: {exc}") from None
    jwk = public_jwk(public_key)
    return VerificationKey(jwk["kid"], jwk["alg"], public_key)


def _key_from_secret(path: Path) -> VerificationKey:
    secret = read_secret(path, what="LOAN_JWT_SECRET_FILE")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"LOAN_JWT_SECRET_FILE: {path} holds {len(secret)} bytes; HS256 needs at least "
            f"{MIN_SECRET_BYTES} random bytes"
        )
    kid = "hs-" + hashlib.sha256(b"kid:" + secret).hexdigest()[:12]
    return VerificationKey(kid, "HS256", secret)


def load_keys(
    secret_file: Path | None, public_key_file: Path | None, jwks_file: Path | None
) -> dict[str, VerificationKey]:
    """Every configured verification key by ``kid``; ``ConfigError`` if there is none."""
    keys: dict[str, VerificationKey] = {}
    if secret_file is not None:
        key = _key_from_secret(secret_file)
        keys[key.kid] = key
    if public_key_file is not None:
        key = _key_from_pem(public_key_file)
        keys[key.kid] = key
    if jwks_file is not None:
        try:
            document = json.loads(jwks_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"LOAN_JWKS_FILE: cannot read {jwks_file}: {exc}") from None
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"LOAN_JWKS_FILE: {jwks_file} has no 'keys' list")
        for entry in entries:
            key = _key_from_jwk(entry, source=jwks_file)
            keys[key.kid] = key
    if not keys:
        raise ConfigError(
            "authentication is on but no token verification key is configured: set "
            "LOAN_JWKS_FILE, LOAN_JWT_PUBLIC_KEY_FILE or LOAN_JWT_SECRET_FILE, or create "
            "development keys with `loanctl auth dev-keys`"
        )
    return keys


# -- development keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class DevKeys:
    """Paths of the development key set written by :func:`generate_dev_keys`."""

    jwt_private_key: Path
    jwks: Path
    audit_signing_key: Path
    pseudonym_key: Path
    data_keys: Path


def generate_dev_keys(folder: Path, *, force: bool = False) -> DevKeys:
    """Create development keys under ``folder`` (0600), keeping existing ones unless ``force``.

    A new ES256 token key is *added* to the JWKS (the old ones stay valid until removed),
    so re-running with ``force`` shows rotation by ``kid``.
    """
    from loan_default.security.settings import (
        AUDIT_SIGNING_KEY,
        DATA_KEYS,
        DEV_JWKS,
        DEV_JWT_PRIVATE_KEY,
        PSEUDONYM_KEY,
    )

    keys = DevKeys(
        folder / DEV_JWT_PRIVATE_KEY,
        folder / DEV_JWKS,
        folder / AUDIT_SIGNING_KEY,
        folder / PSEUDONYM_KEY,
        folder / DATA_KEYS,
    )
    if force or not keys.jwt_private_key.exists():
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = public_jwk(private.public_key())
        existing: list[dict[str, Any]] = []
        if keys.jwks.exists():
            existing = [k for k in json.loads(keys.jwks.read_bytes()).get("keys", [])
                        if k.get("kid") != jwk["kid"]]  # fmt: skip
        write_private(keys.jwt_private_key, private_pem(private))
        write_private(keys.jwks, json.dumps({"keys": [jwk, *existing]}, indent=1).encode())
    if force or not keys.audit_signing_key.exists():
        write_private(keys.audit_signing_key, private_pem(ed25519.Ed25519PrivateKey.generate()))
    if not keys.pseudonym_key.exists():  # never rotated by accident: pseudonyms would change
        write_private(keys.pseudonym_key, secrets.token_hex(32).encode())
    if force or not keys.data_keys.exists():
        from loan_default.security.records import add_data_key

        add_data_key(keys.data_keys)
    return keys


def private_pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def load_private_key(path: Path, *, what: str) -> Any:
    """A PEM private key (unencrypted PKCS#8); ``ConfigError`` naming the setting."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(
            f"{what}: {path} does not exist (create development keys with `loanctl auth dev-keys`)"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{what}: cannot load {path}: {exc}") from None
