"""The audit trail: an append-only, hash-chained log of decisions and model/control changes.

Layout (``LOAN_AUDIT_DIR``, default ``<home>/audit``)::

    <audit_dir>/<stream>.jsonl              one chain per writer: <host>-w<worker>, control
    <checkpoint_dir>/<stream>.jsonl         signed checkpoints, kept apart from the log

Each entry is one JSON line with ``seq`` (1, 2, ...), ``prev`` (the previous entry's hash) and
``hash`` = SHA-256 of ``prev`` and the entry's canonical JSON (sorted keys, without ``hash``).
Editing an entry breaks its own hash; inserting, deleting or reordering breaks ``seq`` and
``prev``; rewriting the whole tail consistently is caught by the checkpoints: Ed25519
signatures over (stream, size, head hash) written every ``checkpoint_every`` entries, every
few seconds of activity and at shutdown, into a folder that should live elsewhere (another
volume, or shipped off the host). ``loanctl audit verify`` checks all of it
(:mod:`loan_default.security.audit_verify`).

Entries are written like the traffic log: one ``write(2)`` on an ``O_APPEND`` descriptor
before the answer leaves (``fsync`` optional), a failed write cut back so no partial line
remains. With a data key, each line is an AES-256-GCM record (the chain covers the plaintext).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from loan_default.security.keys import load_private_key, private_pem
from loan_default.security.records import RecordCipher, decode_line
from loan_default.security.secret_files import create_private
from loan_default.traffic import utcnow

log = logging.getLogger(__name__)
GENESIS = "0" * 64
CHECKPOINT_SECONDS = 10.0
_SORTED = orjson.OPT_SORT_KEYS


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash and a checkpoint's signature cover."""
    return orjson.dumps({k: v for k, v in entry.items() if k not in ("hash", "sig")},
                        option=_SORTED)  # fmt: skip


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        str(entry.get("prev", "")).encode() + b"\n" + canonical(entry)
    ).hexdigest()


def inputs_digest(application: Mapping[str, Any]) -> str:
    """SHA-256 of an application's canonical JSON: proves which inputs a decision used."""
    return hashlib.sha256(orjson.dumps(application, option=_SORTED)).hexdigest()


class CheckpointSigner:
    """Signs checkpoints with an Ed25519 key (created at first use, 0600, with its public key).

    Args:
        key_path: the private key (PEM, PKCS#8).
    """

    def __init__(self, key_path: Path) -> None:
        if not key_path.exists():
            create_private(key_path, private_pem(ed25519.Ed25519PrivateKey.generate()))
        key = load_private_key(key_path, what="LOAN_AUDIT_SIGNING_KEY_FILE")
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise TypeError(f"{key_path}: the audit signing key must be Ed25519")
        self._key = key
        self.public_key = key.public_key()
        self.key_id = public_key_id(self.public_key)
        pub = key_path.with_suffix(".pub.pem")
        if not pub.exists():
            try:
                pub.write_bytes(public_pem(self.public_key))
            except OSError as exc:
                # The key on a read-only mount (a Kubernetes Secret): the public half is a
                # convenience for verifiers, who can derive it from the key (loanctl audit).
                log.info("audit public key not written next to the key (%s)", exc.strerror)

    def sign(self, body: Mapping[str, Any]) -> dict[str, Any]:
        signed = {**body, "key_id": self.key_id}
        return {**signed, "sig": self._key.sign(canonical(signed)).hex()}


def public_pem(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_id(key: ed25519.Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def last_entry(path: Path, cipher: RecordCipher | None) -> tuple[int, dict[str, Any] | None]:
    """(size of the complete lines, last complete entry) of a stream file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, None
    with path.open("rb") as fh:
        tail_start = max(0, size - 1_048_576)
        fh.seek(tail_start)
        tail = fh.read()
    end = tail.rfind(b"\n")
    if end == -1:
        return tail_start, None
    complete = tail_start + end + 1
    start = tail.rfind(b"\n", 0, end) + 1
    return complete, decode_line(tail[start:end], cipher)


class AuditLog:
    """Appends entries to one stream's chain and signs its checkpoints.

    Args:
        folder: the audit log folder.
        checkpoint_folder: where the signed checkpoints go.
        stream: this writer's chain (one writer process at a time unless ``shared``).
        signer: signs checkpoints.
        cipher: encrypts each line when set.
        fsync: flush to disk before returning from :meth:`append`.
        checkpoint_every: entries between checkpoints.
        shared: several processes append (``loanctl``, the sidecar): lock the file and
            re-read the chain's head for each append.
    """

    def __init__(
        self,
        folder: Path,
        checkpoint_folder: Path,
        stream: str,
        signer: CheckpointSigner,
        *,
        cipher: RecordCipher | None = None,
        fsync: bool = False,
        checkpoint_every: int = 1000,
        shared: bool = False,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint_folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{stream}.jsonl"
        self.checkpoint_path = checkpoint_folder / f"{stream}.jsonl"
        self.stream = stream
        self.signer = signer
        self.cipher = cipher
        self.fsync = fsync
        self.checkpoint_every = checkpoint_every
        self.shared = shared
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()
        self._seq, self._head, self._size = 0, GENESIS, 0
        self._checkpointed_seq = 0
        self._checkpoint_at = time.monotonic()
        self._checkpoint_fd = -1
        self._load_head()

    def _load_head(self) -> None:
        size, entry = last_entry(self.path, self.cipher)
        if size != os.fstat(self._fd).st_size:  # a partial line from a crash: never answered
            log.warning("audit %s: cutting a partial last line at byte %d", self.path, size)
            os.ftruncate(self._fd, size)
        self._size = size
        if entry is not None:
            self._seq, self._head = int(entry["seq"]), str(entry["hash"])

    def append(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Chain and write ``events`` (each a dict with ``event`` and ``subject``) at once.

        Raises:
            OSError: the log could not be written: nothing of ``events`` remains in it, and
                the caller must not answer.
        """
        if not events:
            return
        with self._lock:
            if self.shared:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if self.shared:
                    self._load_head()
                self._write(events)
            finally:
                if self.shared:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _write(self, events: Sequence[Mapping[str, Any]]) -> None:
        seq, head = self._seq, self._head
        now = utcnow().isoformat()
        lines = []
        for event in events:
            seq += 1
            body = orjson.dumps({"seq": seq, "time": now, "prev": head, **event}, option=_SORTED)
            head = hashlib.sha256(head.encode() + b"\n" + body).hexdigest()  # = entry_hash
            line = body[:-1] + b',"hash":"' + head.encode() + b'"}'
            lines.append(self.cipher.encrypt(line) if self.cipher is not None else line)
        payload = b"\n".join(lines) + b"\n"
        try:
            written = 0
            while written < len(payload):
                written += os.write(self._fd, payload[written:])
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, self._size)  # no partial line may remain
            raise
        self._seq, self._head, self._size = seq, head, self._size + len(payload)
        due = time.monotonic() - self._checkpoint_at >= CHECKPOINT_SECONDS
        if self._seq - self._checkpointed_seq >= self.checkpoint_every or due:
            self._checkpoint()

    def _checkpoint(self) -> None:
        if self._seq == self._checkpointed_seq:
            return
        body = {"stream": self.stream, "size": self._seq, "head": self._head,
                "time": utcnow().isoformat()}  # fmt: skip
        line = orjson.dumps(self.signer.sign(body), option=_SORTED) + b"\n"
        if self._checkpoint_fd < 0:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._checkpoint_fd = os.open(self.checkpoint_path, flags, 0o640)
        os.write(self._checkpoint_fd, line)
        if self.fsync:  # as the log itself: a disk flush can take 100s of ms on a busy disk
            os.fsync(self._checkpoint_fd)
        self._checkpointed_seq = self._seq
        self._checkpoint_at = time.monotonic()

    def checkpoint(self) -> None:
        """Sign the chain's current head now (also done by :meth:`close`)."""
        with self._lock:
            if self.shared:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                self._load_head()
            try:
                self._checkpoint()
            finally:
                if self.shared:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.checkpoint()
            finally:
                os.close(self._fd)
                self._fd = -1
                if self._checkpoint_fd >= 0:
                    os.close(self._checkpoint_fd)
                    self._checkpoint_fd = -1
