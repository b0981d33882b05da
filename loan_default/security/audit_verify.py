"""Checking and reading the audit trail (``loanctl audit verify`` and ``loanctl audit show``).

:func:`verify` walks every stream of the log and every signed checkpoint and reports, for
each problem, the stream, the line and what happened to it:

* **edited**: the entry's content no longer matches its hash;
* **inserted**: an entry whose ``seq`` already appeared, or that does not follow its
  predecessor (``prev``), with no missing sequence number to explain it;
* **deleted**: sequence numbers missing that appear nowhere in the stream;
* **reordered**: a sequence number out of place that does appear elsewhere;
* **truncated**: a partial last line, fewer entries than a signed checkpoint covers, or a
  stream file gone while its checkpoints remain;
* **checkpoint**: a checkpoint whose signature fails, or whose head hash is not the hash of
  the entry it covers (the chain was rewritten).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from loan_default.errors import InputError
from loan_default.security.audit import GENESIS, canonical, entry_hash, public_key_id
from loan_default.security.records import RecordCipher, decode_line


@dataclass(frozen=True)
class Finding:
    """One problem found in the audit trail."""

    stream: str
    kind: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.stream}.jsonl" + (f" line {self.line}" if self.line else "")
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class Report:
    """What :func:`verify` checked and found."""

    streams: int = 0
    entries: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def read_stream(path: Path, cipher: RecordCipher | None) -> tuple[list[Any], bool]:
    """(entries by line, each a dict or an error string; whether the last line is partial)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    partial = bool(lines[-1])
    out: list[Any] = []
    for raw in lines[:-1] if not partial else lines:
        try:
            out.append(decode_line(raw, cipher))
        except (orjson.JSONDecodeError, InputError) as exc:
            out.append(f"unreadable ({str(exc)[:80]})")
    return out, partial


def _check_chain(
    stream: str, entries: list[Any], partial: bool
) -> tuple[list[Finding], dict[int, str]]:
    """Findings of one stream's chain, and the hash of each sequence number (first seen)."""
    findings: list[Finding] = []
    hashes: dict[int, str] = {}
    lines_of: dict[int, list[int]] = {}
    for line, entry in enumerate(entries, start=1):
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            lines_of.setdefault(entry["seq"], []).append(line)
    expected = 1
    for line, entry in enumerate(entries, start=1):
        if partial and line == len(entries):
            findings.append(Finding(stream, "truncated", line, "the last entry is cut short"))
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
            findings.append(Finding(stream, "edited", line, f"not an audit entry: {entry}"))
            continue
        seq: int = entry["seq"]
        if entry_hash(entry) != entry.get("hash"):
            findings.append(
                Finding(stream, "edited", line, f"entry {seq}: its content does not match its hash")
            )
        if seq in hashes:
            where = ", ".join(str(n) for n in lines_of[seq])
            findings.append(
                Finding(stream, "inserted", line, f"entry {seq} appears again (lines {where})")
            )
            continue
        hashes[seq] = str(entry.get("hash"))
        if seq != expected:
            if seq < expected or expected in lines_of:
                text = f"entry {seq} stands where entry {expected} belongs"
                findings.append(Finding(stream, "reordered", line, text))
            else:
                gone = (
                    f"entry {expected} is"
                    if seq - 1 == expected
                    else f"entries {expected}..{seq - 1} are"
                )
                findings.append(
                    Finding(stream, "deleted", line, f"{gone} missing before entry {seq}")
                )
        else:
            before = GENESIS if seq == 1 else hashes.get(seq - 1)
            if before is not None and entry.get("prev") != before:
                findings.append(
                    Finding(
                        stream,
                        "inserted",
                        line,
                        f"entry {seq} does not follow entry {seq - 1} (chain broken)",
                    )
                )
        expected = max(expected, seq + 1)
    return findings, hashes


def _check_checkpoints(
    stream: str, path: Path, hashes: dict[int, str], public_key: ed25519.Ed25519PublicKey | None
) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    count = 0
    top = max(hashes, default=0)
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        count += 1
        where = f"checkpoint {number} ({path.name})"
        try:
            cp = orjson.loads(raw)
        except orjson.JSONDecodeError:
            findings.append(Finding(stream, "checkpoint", None, f"{where} is unreadable"))
            continue
        if public_key is not None:
            if cp.get("key_id") != public_key_id(public_key):
                findings.append(
                    Finding(
                        stream,
                        "checkpoint",
                        None,
                        f"{where} is signed by another key ({cp.get('key_id')})",
                    )
                )
                continue
            try:
                public_key.verify(bytes.fromhex(str(cp.get("sig", ""))), canonical(cp))
            except (InvalidSignature, ValueError):
                findings.append(Finding(stream, "checkpoint", None, f"{where}: bad signature"))
                continue
        size = int(cp.get("size", 0))
        if size > top:
            findings.append(
                Finding(
                    stream,
                    "truncated",
                    None,
                    f"{where} signed {size} entries, the log holds {top}: "
                    f"entries {top + 1}..{size} are gone",
                )
            )
        elif hashes.get(size) != cp.get("head"):
            findings.append(
                Finding(
                    stream,
                    "checkpoint",
                    None,
                    f"{where}: entry {size} is not the one signed at "
                    f"{cp.get('time')} (the chain was rewritten)",
                )
            )
    return findings, count


def verify(
    audit_dir: Path,
    checkpoint_dir: Path,
    *,
    public_key: ed25519.Ed25519PublicKey | None,
    cipher: RecordCipher | None = None,
) -> Report:
    """Check every stream and checkpoint; see the module docstring for what is reported."""
    report = Report()
    logs = {p.stem: p for p in sorted(audit_dir.glob("*.jsonl"))} if audit_dir.exists() else {}
    marks = (
        {p.stem: p for p in sorted(checkpoint_dir.glob("*.jsonl"))}
        if checkpoint_dir.exists()
        else {}
    )
    for stream in sorted(set(logs) | set(marks)):
        report.streams += 1
        hashes: dict[int, str] = {}
        if stream in logs:
            entries, partial = read_stream(logs[stream], cipher)
            report.entries += len(entries) - int(partial)
            findings, hashes = _check_chain(stream, entries, partial)
            report.findings.extend(findings)
        else:
            report.findings.append(
                Finding(
                    stream, "truncated", None, "the log file is gone but its checkpoints remain"
                )
            )
        if stream in marks:
            findings, count = _check_checkpoints(stream, marks[stream], hashes, public_key)
            report.findings.extend(findings)
            report.checkpoints += count
    return report


def entries(audit_dir: Path, cipher: RecordCipher | None = None) -> Iterator[dict[str, Any]]:
    """Every readable entry of every stream, each with its ``stream``, by time."""
    rows: list[dict[str, Any]] = []
    for path in sorted(audit_dir.glob("*.jsonl")) if audit_dir.exists() else []:
        items, _ = read_stream(path, cipher)
        rows.extend({**e, "stream": path.stem} for e in items if isinstance(e, dict))
    rows.sort(key=lambda e: (str(e.get("time", "")), e.get("stream", ""), e.get("seq", 0)))
    yield from rows


def select(
    rows: Iterator[dict[str, Any]],
    *,
    subject: str | None = None,
    model: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Entries of ``subject``, about ``model`` (a version or tag, substring), in a time range."""
    for row in rows:
        if subject is not None and row.get("subject") != subject:
            continue
        if model is not None and model not in str(row.get("model", "")):
            continue
        if event is not None and not str(row.get("event", "")).startswith(event):
            continue
        moment = datetime.fromisoformat(str(row["time"])) if "time" in row else None
        if since is not None and (moment is None or moment < since):
            continue
        if until is not None and (moment is None or moment >= until):
            continue
        yield row
