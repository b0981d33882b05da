"""The audit trail: chained entries, signed checkpoints, and every kind of tampering named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loan_default.security.audit import AuditLog, CheckpointSigner, entry_hash
from loan_default.security.audit_verify import Report, entries, select, verify
from loan_default.security.records import RecordCipher, add_data_key


def write_log(home: Path, n: int = 10, *, cipher: RecordCipher | None = None) -> AuditLog:
    audit = AuditLog(home / "audit", home / "audit-checkpoints", "w0",
                     CheckpointSigner(home / "security" / "audit-signing.pem"),
                     cipher=cipher, checkpoint_every=5)  # fmt: skip
    for i in range(n):
        audit.append([{"event": "decision", "subject": f"user{i % 2}", "model": "loan_default:v1",
                       "prediction_id": f"p{i}", "risk_category": "LOW"}])  # fmt: skip
    return audit


def check(home: Path, cipher: RecordCipher | None = None) -> Report:
    signer = CheckpointSigner(home / "security" / "audit-signing.pem")
    return verify(home / "audit", home / "audit-checkpoints", public_key=signer.public_key,
                  cipher=cipher)  # fmt: skip


def lines(home: Path) -> list[str]:
    return (home / "audit" / "w0.jsonl").read_text().splitlines()


def rewrite(home: Path, rows: list[str], *, newline: bool = True) -> None:
    (home / "audit" / "w0.jsonl").write_text("\n".join(rows) + ("\n" if newline else ""))


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    write_log(tmp_path, 12).close()
    report = check(tmp_path)
    assert report.ok, report.findings
    assert report.entries == 12 and report.checkpoints == 3  # at 5, 10 and on close (12)


def test_a_reopened_writer_continues_the_chain(tmp_path: Path) -> None:
    write_log(tmp_path, 3).close()
    write_log(tmp_path, 3).close()
    seqs = [json.loads(line)["seq"] for line in lines(tmp_path)]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert check(tmp_path).ok


def _tamper(home: Path, how: str) -> None:
    rows = lines(home)
    if how == "edited":
        entry = json.loads(rows[4])
        entry["risk_category"] = "HIGH"
        rows[4] = json.dumps(entry)
    elif how == "inserted":
        forged = json.loads(rows[4])
        forged["prediction_id"] = "forged"
        forged["hash"] = entry_hash(forged)  # a careful forger recomputes the hash
        rows.insert(5, json.dumps(forged))
    elif how == "deleted":
        del rows[4]
    elif how == "reordered":
        rows[4], rows[5] = rows[5], rows[4]
    elif how == "truncated":
        rows = rows[:8]
    rewrite(home, rows)


@pytest.mark.parametrize(
    ("how", "line", "words"),
    [
        ("edited", 5, "entry 5: its content does not match its hash"),
        ("inserted", 6, "entry 5 appears again"),
        ("deleted", 5, "entry 5 is missing before entry 6"),
        ("reordered", 5, "entry 6 stands where entry 5 belongs"),
        ("truncated", None, "entries 9..10 are gone"),
    ],
)
def test_tampering_is_found_and_named(
    tmp_path: Path, how: str, line: int | None, words: str
) -> None:
    write_log(tmp_path, 10).close()
    _tamper(tmp_path, how)
    report = check(tmp_path)
    assert not report.ok
    first = report.findings[0]
    assert (first.kind, first.line) == (how, line), report.findings
    assert words in first.message


def test_a_cut_line_and_a_rewritten_chain_are_found(tmp_path: Path) -> None:
    write_log(tmp_path, 10).close()
    raw = (tmp_path / "audit" / "w0.jsonl").read_bytes()
    (tmp_path / "audit" / "w0.jsonl").write_bytes(raw[:-20])
    assert check(tmp_path).findings[0].kind == "truncated"
    # A forger who rebuilds the whole chain consistently still fails the signed checkpoints.
    rows = [json.loads(r) for r in raw.decode().splitlines()]
    prev = "0" * 64
    for row in rows:
        row["risk_category"] = "HIGH"
        row["prev"] = prev
        prev = row["hash"] = entry_hash(row)
    rewrite(tmp_path, [json.dumps(r) for r in rows])
    kinds = {f.kind for f in check(tmp_path).findings}
    assert kinds == {"checkpoint"}


def test_a_forged_checkpoint_signature_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 5).close()
    path = tmp_path / "audit-checkpoints" / "w0.jsonl"
    cp = json.loads(path.read_text().splitlines()[0])
    cp["size"] = 4
    path.write_text(json.dumps(cp) + "\n")
    assert "bad signature" in check(tmp_path).findings[0].message


def test_encrypted_log_verifies_and_holds_no_clear_text(tmp_path: Path) -> None:
    add_data_key(tmp_path / "keys.json")
    cipher = RecordCipher.load(tmp_path / "keys.json")
    write_log(tmp_path, 6, cipher=cipher).close()
    assert b"user1" not in (tmp_path / "audit" / "w0.jsonl").read_bytes()
    assert check(tmp_path, cipher).ok
    shown = list(select(entries(tmp_path / "audit", cipher), subject="user1"))
    assert [e["prediction_id"] for e in shown] == ["p1", "p3", "p5"]


def test_cli_verify_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loanctl.cli import app

    monkeypatch.setenv("LOAN_HOME", str(tmp_path))
    write_log(tmp_path, 10).close()
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 10 entries" in ok.output
    shown = runner.invoke(app, ["audit", "show", "--subject", "user0", "--json"])
    assert shown.exit_code == 0 and len(shown.output.splitlines()) == 5
    _tamper(tmp_path, "deleted")
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "TAMPERED w0.jsonl line 5: deleted: entry 5 is missing" in bad.output
