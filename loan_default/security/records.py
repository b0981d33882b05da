"""Personal data at rest: AES-256-GCM record encryption and keyed-hash pseudonyms.

An encrypted record is one JSON line ``{"enc": "A256GCM", "kid": ..., "n": ..., "ct": ...}``
(nonce and ciphertext base64): the key id in every record lets keys rotate (new records use
the ring's ``current`` key, old ones stay readable while their key is in the ring). The
nonce is 96 random bits per record (NIST SP 800-38D's limit of 2^32 records per key is far
away; rotate yearly anyway).

The key ring file (``LOAN_DATA_KEY_FILE``, 0600)::

    {"current": "k20261201", "keys": {"k20261201": "<base64 of 32 bytes>"}}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loan_default.errors import ConfigError, InputError
from loan_default.security.secret_files import create_private, read_secret, write_private

ENCRYPTED = "A256GCM"
_PREFIX = b'{"enc":"A256GCM"'


class RecordCipher:
    """Encrypts and decrypts JSON records with a key ring.

    Args:
        keys: key id -> 32-byte key.
        current: the id of the key new records are encrypted with.
    """

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ConfigError(f"data key ring: current key {current!r} is not in the ring")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ConfigError(f"data key ring: key {kid!r} is {len(key)} bytes, not 32")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current

    @classmethod
    def load(cls, path: Path) -> RecordCipher:
        try:
            document = json.loads(read_secret(path, what="LOAN_DATA_KEY_FILE"))
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in
                    document["keys"].items()}  # fmt: skip
            return cls(keys, str(document["current"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"LOAN_DATA_KEY_FILE: {path} is not a key ring ({exc})") from None

    def encrypt(self, plaintext: bytes, *, aad: bytes = b"") -> bytes:
        """One encrypted record (a JSON object, no newline)."""
        nonce = os.urandom(12)
        ct = self._aead[self.current].encrypt(nonce, plaintext, aad or None)
        return orjson.dumps(
            {
                "enc": ENCRYPTED,
                "kid": self.current,
                "n": base64.b64encode(nonce).decode(),
                "ct": base64.b64encode(ct).decode(),
            }
        )

    def decrypt(self, record: dict[str, Any], *, aad: bytes = b"") -> bytes:
        """The plaintext of an encrypted record; ``InputError`` if it cannot be decrypted."""
        kid = str(record.get("kid"))
        aead = self._aead.get(kid)
        if aead is None:
            raise InputError(f"encrypted record: key {kid!r} is not in the data key ring")
        try:
            nonce = base64.b64decode(record["n"])
            return aead.decrypt(nonce, base64.b64decode(record["ct"]), aad or None)
        except (KeyError, ValueError, InvalidTag):
            raise InputError(f"encrypted record (key {kid!r}) fails authentication: "
                             "altered or truncated") from None  # fmt: skip


def is_encrypted(line: bytes) -> bool:
    return line.startswith(_PREFIX)


def add_data_key(path: Path) -> str:
    """Add a new random key to the ring at ``path`` and make it current; returns its id."""
    document: dict[str, Any] = {"keys": {}}
    if path.exists():
        document = json.loads(path.read_bytes())
    kid = f"k{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    document["keys"][kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    document["current"] = kid
    write_private(path, json.dumps(document, indent=1).encode())
    return kid


@lru_cache(maxsize=4)
def _cipher_at(path: str, mtime: float) -> RecordCipher:
    return RecordCipher.load(Path(path))


@lru_cache(maxsize=8)
def _ring_path(environment_value: str | None) -> Path | None:
    """The configured ring (settings read once per value of the variable, not per record)."""
    from loan_default.security.settings import SecuritySettings

    return SecuritySettings().data_key_file


def configured_cipher() -> RecordCipher | None:
    """The cipher of ``LOAN_DATA_KEY_FILE`` (re-read when the file changes), else None.

    Readers call this when they meet an encrypted record, so the sidecar, the replay and the
    CLI read encrypted logs without any change of their own.
    """
    path = _ring_path(os.environ.get("LOAN_DATA_KEY_FILE"))
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"LOAN_DATA_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    return _cipher_at(str(path), mtime)


def decode_line(line: bytes, cipher: RecordCipher | None = None) -> dict[str, Any]:
    """A JSON line as a dict, decrypting it when it is an encrypted record.

    Raises:
        orjson.JSONDecodeError: not JSON (or a decrypted payload that is not).
        InputError: encrypted, and no key ring is configured or it fails authentication.
    """
    record: dict[str, Any] = orjson.loads(line)
    if not isinstance(record, dict) or record.get("enc") != ENCRYPTED:
        return record  # not an object: the caller reports it
    cipher = cipher or configured_cipher()
    if cipher is None:
        raise InputError("encrypted record, but LOAN_DATA_KEY_FILE is not set")
    plain: dict[str, Any] = orjson.loads(cipher.decrypt(record))
    return plain


class Pseudonymiser:
    """Keyed hash (HMAC-SHA-256) of identifiers: stable per key, not reversible without it.

    The same applicant id always gets the same pseudonym (so an auditor can follow one
    applicant's decisions), and nobody without the key can test a guessed id against it.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("pseudonymisation key: at least 16 bytes are needed")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # copied per call: no key setup

    @classmethod
    def load_or_create(cls, path: Path) -> Pseudonymiser:
        if not path.exists():
            create_private(path, secrets.token_hex(32).encode())
        return cls(read_secret(path, what="LOAN_PSEUDONYM_KEY_FILE"))

    def __call__(self, identifier: str | None) -> str | None:
        if identifier is None:
            return None
        mac = self._mac.copy()
        mac.update(identifier.encode())
        return "p-" + mac.hexdigest()[:32]
