"""Record encryption: round trip, rotation, tampering, the traffic log read transparently."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from loan_default.errors import InputError
from loan_default.security.records import Pseudonymiser, RecordCipher, add_data_key, decode_line
from loan_default.traffic import Checkpoint, TrafficWriter, read_new


def test_round_trip_and_rotation(tmp_path: Path) -> None:
    ring = tmp_path / "keys.json"
    old = add_data_key(ring)
    before = RecordCipher.load(ring).encrypt(b'{"a":1}')
    new = add_data_key(ring)
    cipher = RecordCipher.load(ring)
    assert cipher.current == new != old
    assert decode_line(before, cipher) == {"a": 1}  # an old key still decrypts its records
    assert f'"kid":"{new}"'.encode() in cipher.encrypt(b"{}")
    assert (ring.stat().st_mode & 0o777) == 0o600


def test_tampered_ciphertext_is_refused(tmp_path: Path) -> None:
    add_data_key(tmp_path / "k.json")
    cipher = RecordCipher.load(tmp_path / "k.json")
    line = bytearray(cipher.encrypt(b'{"client_income": 52000}'))
    line[-10] = ord("A") if line[-10] != ord("A") else ord("B")
    with pytest.raises(InputError, match="fails authentication"):
        decode_line(bytes(line), cipher)


def test_traffic_log_encrypted_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = tmp_path / "keys.json"
    add_data_key(ring)
    monkeypatch.setenv("LOAN_DATA_KEY_FILE", str(ring))
    writer = TrafficWriter(tmp_path / "traffic", "predictions", cipher=RecordCipher.load(ring))
    records = [{"prediction_id": f"p{i}", "application": {"client_income": 41234.5 + i}}
               for i in range(3)]  # fmt: skip
    writer.write(records)
    writer.close()
    (path,) = (tmp_path / "traffic" / "predictions").glob("*/*.jsonl")
    assert b"41234" not in path.read_bytes() and b"client_income" not in path.read_bytes()
    got, _ = read_new(tmp_path / "traffic", "predictions", Checkpoint())
    assert got == records
    monkeypatch.delenv("LOAN_DATA_KEY_FILE")
    bad: list[Any] = []  # without the key nothing is read: each record is reported, named why
    got, _ = read_new(tmp_path / "traffic", "predictions", Checkpoint(), on_bad=bad.append)
    assert got == [] and len(bad) == 3
    assert all("LOAN_DATA_KEY_FILE is not set" in b.reason for b in bad)


def test_pseudonyms_are_stable_and_keyed(tmp_path: Path) -> None:
    a = Pseudonymiser.load_or_create(tmp_path / "a.key")
    b = Pseudonymiser.load_or_create(tmp_path / "b.key")
    assert a("APP-1") == a("APP-1") != b("APP-1")
    assert "APP-1" not in str(a("APP-1")) and a(None) is None


def _pseudonym_of_a_fresh_key(path: str, start: Any, names: Any) -> None:
    start.wait()
    try:
        names.put(Pseudonymiser.load_or_create(Path(path))("client-1"))
    except OSError as exc:
        names.put(f"failed: {exc}")


def test_workers_starting_together_share_one_pseudonym_key(tmp_path: Path) -> None:
    # The service's workers create the key at the same moment on a first start; each must end
    # up with the key on disk (the first writer's), not its own, or one client gets two names.
    ctx = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = tmp_path / f"round{attempt}" / "security" / "pseudonym.key"
        start, names = ctx.Barrier(6), ctx.Queue()
        workers = [
            ctx.Process(target=_pseudonym_of_a_fresh_key, args=(str(path), start, names))
            for _ in range(6)
        ]
        for worker in workers:
            worker.start()
        seen = {names.get(timeout=30) for _ in workers}
        for worker in workers:
            worker.join(timeout=30)
        assert seen == {Pseudonymiser.load_or_create(path)("client-1")}
        assert sorted(p.name for p in path.parent.iterdir()) == ["pseudonym.key"]
        assert path.stat().st_mode & 0o777 == 0o600


def test_decision_events_pseudonymise_the_application_and_the_client(tmp_path: Path) -> None:
    from loan_default.security.guard import Guard
    from loan_default.security.settings import SecuritySettings

    settings = SecuritySettings(home=tmp_path, auth_mode="off", environment="development")
    guard = Guard(settings, stream="test")
    apps = [{"application_id": "APP-1", "client_id": "CLI-7"}, {"application_id": "APP-2"}]
    results = [
        {
            "prediction_id": p,
            "default_probability": 0.1,
            "risk_category": "LOW",
            "decision": "approve",
        }
        for p in ("a", "b")
    ]
    events = guard.decision_events("s", endpoint="predict", model="m:1", applications=apps,
                                   results=results)  # fmt: skip
    guard.close()
    assert events[0]["client"].startswith("p-") and "CLI-7" not in str(events)
    assert events[0]["client"] != events[0]["applicant"] and events[1]["client"] is None
