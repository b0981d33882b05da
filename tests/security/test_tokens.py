"""Token verification: every defect of the matrix refused with its reason; good tokens pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_default.errors import AuthenticationError, ConfigError
from loan_default.security.keys import load_keys
from loan_default.security.tokens import InvalidTokenError, TokenVerifier, challenge, mint_token
from tests.security.keyset import KeySet, bad_tokens, claims_for, make_keyset, sign


@pytest.fixture(scope="module")
def ks(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    return make_keyset(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def verifier(ks: KeySet) -> TokenVerifier:
    return TokenVerifier(ks.settings())


REASONS = {
    "no token": "bearer token is required",
    "malformed": "malformed",
    "bad signature": "signature",
    "expired": "expired",
    "not yet valid": "not valid yet",
    "wrong issuer": "issuer",
    "wrong audience": "aud",
    "alg none": "alg 'none'",
    "algorithm swap": "not allowed for key",
    "unknown kid": "unknown key id",
}


@pytest.mark.parametrize("case", sorted(REASONS))
def test_each_defect_is_refused_with_its_reason(
    ks: KeySet, verifier: TokenVerifier, case: str
) -> None:
    header = bad_tokens(ks, "underwriter")[case]
    with pytest.raises(AuthenticationError, match=REASONS[case]) as caught:
        verifier.authenticate(header)
    if header:
        assert header[7:] not in str(caught.value)  # the token is never echoed
    www = challenge(caught.value)
    assert www.startswith('Bearer realm="loan-default"')
    assert ('error="invalid_token"' in www) == (case != "no token")


def test_good_tokens_of_both_keys_verify(ks: KeySet, verifier: TokenVerifier) -> None:
    principal = verifier.authenticate("Bearer " + ks.token(["analyst", "auditor"], sub="bob"))
    assert principal.subject == "bob"
    assert principal.roles == {"analyst", "auditor"}
    rsa_token = sign(ks.rsa_private, "RS256", ks.rsa_kid, claims_for(["underwriter"]))
    assert verifier.verify(rsa_token).roles == {"underwriter"}


def test_missing_required_claim_is_named(ks: KeySet, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="'sub'"):
        verifier.verify(ks.token(["analyst"], sub=None))  # type: ignore[arg-type]


def test_an_rs256_key_refuses_an_es256_header(ks: KeySet, verifier: TokenVerifier) -> None:
    forged = sign(ks.ec_private, "ES256", ks.rsa_kid, claims_for(["analyst"]))
    with pytest.raises(InvalidTokenError, match="only RS256"):
        verifier.verify(forged)


def test_leeway_accepts_small_skew_only(ks: KeySet) -> None:
    import time

    now = int(time.time())
    verifier = TokenVerifier(ks.settings(jwt_leeway_seconds=30))
    verifier.verify(ks.token(["analyst"], exp=now - 10, iat=now - 100, nbf=now - 100))
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(ks.token(["analyst"], exp=now - 60, iat=now - 100, nbf=now - 100))


def test_cached_token_still_expires(ks: KeySet, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    verifier = TokenVerifier(ks.settings(jwt_leeway_seconds=0))
    token = ks.token(["analyst"])
    verifier.verify(token)
    assert verifier.verify(token).subject == "alice"  # from the cache

    def expired(_: str) -> None:
        raise InvalidTokenError("the token has expired (exp)")

    later = time.time() + 700  # past exp: the cached entry must not be used any more
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(verifier, "_verify", expired)
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(token)


def test_rotated_jwks_is_picked_up_by_kid(tmp_path: Path) -> None:
    import os

    ks = make_keyset(tmp_path)
    verifier = TokenVerifier(ks.settings())
    from loan_default.security.keys import generate_dev_keys

    generate_dev_keys(tmp_path / "security", force=True)  # a new key, the old one kept
    os.utime(tmp_path / "security" / "jwks.json", (1, 1))  # a different mtime for sure
    fresh = mint_token(ks.settings(), subject="carol", roles=["analyst"])
    assert verifier.verify(fresh).subject == "carol"
    assert verifier.verify(ks.token(["analyst"])).subject == "alice"  # the old kid still works


def test_hs256_secret(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40)
    settings = make_keyset(tmp_path).settings(jwt_secret_file=secret, jwks_file=None)
    token = mint_token(settings, subject="svc", roles=["underwriter"])
    assert TokenVerifier(settings).verify(token).subject == "svc"
    short = tmp_path / "short"
    short.write_text("tooshort")
    with pytest.raises(ConfigError, match="at least 32"):
        load_keys(short, None, None)


def test_no_key_configured_is_a_clear_error(tmp_path: Path) -> None:
    from loan_default.security.settings import SecuritySettings

    with pytest.raises(ConfigError, match="loanctl auth dev-keys"):
        TokenVerifier(SecuritySettings(home=tmp_path))


def test_auth_off_only_in_development(tmp_path: Path) -> None:
    from loan_default.security.settings import SecuritySettings

    with pytest.raises(ConfigError, match="refused outside development"):
        SecuritySettings(home=tmp_path, auth_mode="off", environment="production")
    dev = SecuritySettings(home=tmp_path, auth_mode="off", environment="development")
    assert dev.banner() is not None and "AUTHENTICATION IS OFF" in dev.banner()  # type: ignore[operator]
    with pytest.raises(ConfigError, match="together"):
        SecuritySettings(home=tmp_path, tls_cert_file=tmp_path / "c.pem")
