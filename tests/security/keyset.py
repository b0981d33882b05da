"""Keys and forged tokens for the security tests: every way a token can be wrong.

:func:`bad_tokens` returns one token per case of the issue's matrix, each signed so that only
the named defect is wrong (a wrong issuer is correctly signed, an expired token has the right
issuer, ...), so a test that passes proves that the defect alone is refused.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from loan_default.security.keys import generate_dev_keys, public_jwk
from loan_default.security.settings import SecuritySettings

ISSUER = "loan-default-dev"
AUDIENCE = "loan-default-api"


@dataclass
class KeySet:
    """A home with development keys (ES256) plus an RSA key in the same JWKS."""

    home: Path
    ec_private: Any
    ec_kid: str
    rsa_private: Any
    rsa_kid: str
    rsa_public_pem: bytes

    def env(self) -> dict[str, str]:
        return {"LOAN_HOME": str(self.home), "LOAN_ENVIRONMENT": "production",
                "LOAN_AUTH_MODE": "jwt"}  # fmt: skip

    def settings(self, **overrides: Any) -> SecuritySettings:
        return SecuritySettings(home=self.home, **overrides)

    def token(self, roles: list[str], *, sub: str = "alice", **claims: Any) -> str:
        return sign(self.ec_private, "ES256", self.ec_kid, claims_for(roles, sub=sub, **claims))


def make_keyset(home: Path) -> KeySet:
    keys = generate_dev_keys(home / "security")
    ec_private = serialization.load_pem_private_key(keys.jwt_private_key.read_bytes(), None)
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = public_jwk(rsa_private.public_key())
    document = json.loads(keys.jwks.read_bytes())
    document["keys"].append(rsa_jwk)
    keys.jwks.write_text(json.dumps(document))
    pem = rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert isinstance(ec_private, ec.EllipticCurvePrivateKey)
    return KeySet(home, ec_private, public_jwk(ec_private.public_key())["kid"], rsa_private,
                  rsa_jwk["kid"], pem)  # fmt: skip


def claims_for(roles: list[str], *, sub: str = "alice", **claims: Any) -> dict[str, Any]:
    now = int(time.time())
    out = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
           "exp": now + 600, "roles": roles}  # fmt: skip
    out.update(claims)
    return {k: v for k, v in out.items() if v is not None}


def sign(key: Any, alg: str, kid: str | None, claims: dict[str, Any]) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_tokens(ks: KeySet, role: str) -> dict[str, str | None]:
    """Case -> Authorization header value (None: no header), every case but the right role."""
    good = ks.token([role])
    now = int(time.time())
    head, body, sig = good.split(".")
    flipped = sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": ks.ec_kid}).encode())
    # The algorithm swap: HS256 "signed" with the RSA public key as the secret (PyJWT refuses
    # to do it, so sign by hand as an attacker would).
    import hashlib
    import hmac

    swap_head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": ks.rsa_kid}).encode())
    swap_body = _b64(json.dumps(claims_for([role])).encode())
    swap_sig = _b64(hmac.new(ks.rsa_public_pem, f"{swap_head}.{swap_body}".encode(),
                             hashlib.sha256).digest())  # fmt: skip
    stranger = ec.generate_private_key(ec.SECP256R1())
    return {
        "no token": None,
        "malformed": "Bearer not.a-jwt",
        "bad signature": f"Bearer {head}.{body}.{flipped}",
        "expired": "Bearer " + ks.token([role], iat=now - 3600, nbf=now - 3600, exp=now - 600),
        "not yet valid": "Bearer " + ks.token([role], nbf=now + 600, exp=now + 1200),
        "wrong issuer": "Bearer " + ks.token([role], iss="https://evil.example"),
        "wrong audience": "Bearer " + ks.token([role], aud="some-other-api"),
        "alg none": f"Bearer {none_header}.{body}.",
        "algorithm swap": f"Bearer {swap_head}.{swap_body}.{swap_sig}",
        "unknown kid": "Bearer " + sign(stranger, "ES256", "unknown-kid", claims_for([role])),
    }
