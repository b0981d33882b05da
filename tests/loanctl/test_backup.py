"""Backups of a platform home: the round trip, consistency, corruption, the target, retention."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loan_default.errors import InputError, NotFoundError
from loanctl import backup
from loanctl.locations import StateLocations


def locations(home: Path) -> StateLocations:
    return StateLocations(
        home=home,
        mlflow_db=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        mlflow_artifacts=home / "mlflow" / "artifacts",
        bento_models=home / "bentoml" / "models",
        monitoring=home / "monitoring",
        traffic=home / "traffic",
        audit=home / "audit",
        control=home / "control",
    )


def make_home(home: Path) -> StateLocations:
    """A small home: an MLflow-like database naming its artifact root, and every folder."""
    where = locations(home)
    (home / "mlflow").mkdir(parents=True)
    db = sqlite3.connect(home / "mlflow" / "mlflow.db")
    db.execute("CREATE TABLE experiments (name TEXT, artifact_location VARCHAR(256))")
    db.execute("INSERT INTO experiments VALUES ('loan', ?)", (where.mlflow_artifacts.as_uri(),))
    db.execute("INSERT INTO experiments VALUES ('other', 's3://bucket/x')")
    db.commit()
    db.close()
    files = {
        where.mlflow_artifacts / "1" / "run" / "model.pkl": b"model bytes",
        where.bento_models / "loan_default" / "v1" / "model.yaml": b"name: loan_default",
        where.traffic / "predictions.jsonl": b'{"prediction_id": "a"}\n{"prediction_id": "b"}\n',
        where.audit / "audit.jsonl": b'{"who": "ops"}\n',
        where.audit / "checkpoints" / "0001.json": b'{"hash": "00"}',
        where.control / "pause.json": b'{"paused": false}',
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    where.monitoring.mkdir()
    state = sqlite3.connect(where.monitoring / "state.db")
    state.execute("PRAGMA journal_mode=WAL")  # as the sidecar runs it: pages still in the WAL
    state.execute("CREATE TABLE checkpoints (file TEXT, offset INTEGER)")
    state.execute("INSERT INTO checkpoints VALUES ('predictions.jsonl', 46)")
    state.commit()
    state.close()
    return where


def test_a_restore_into_an_empty_home_holds_the_same_state(tmp_path: Path) -> None:
    source = make_home(tmp_path / "a")
    made = backup.create(tmp_path / "backups", source)
    target = locations(tmp_path / "b")
    restored = backup.restore(backup.find(tmp_path / "backups"), target)
    assert restored.path == made.path and restored.files == made.files
    for name, folder in source.folders().items():
        before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        after_folder = target.folders()[name]
        after = {p.relative_to(after_folder): p.read_bytes() for p in after_folder.rglob("*")
                 if p.is_file()}  # fmt: skip
        if name == "monitoring":  # SQLite snapshot: same rows, not the same bytes
            assert set(after) == {Path("state.db")}
            continue
        assert after == before, name
    state = sqlite3.connect(target.monitoring / "state.db")
    assert state.execute("SELECT * FROM checkpoints").fetchall() == [("predictions.jsonl", 46)]
    db = sqlite3.connect(tmp_path / "b" / "mlflow" / "mlflow.db")
    assert dict(db.execute("SELECT name, artifact_location FROM experiments").fetchall()) == {
        "loan": target.mlflow_artifacts.as_uri(),  # moved with the home
        "other": "s3://bucket/x",  # not under the old root: untouched
    }


def test_the_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    made = backup.create(tmp_path / "backups", make_home(tmp_path / "a"))
    manifest = json.loads((made.path / "manifest.json").read_text())
    assert "mlflow/mlflow.db" in manifest["files"]
    assert "audit/checkpoints/0001.json" in manifest["files"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert backup.verify(made.path)["created_at"] == manifest["created_at"]


@pytest.mark.parametrize("damage", ["flip", "delete", "extra", "manifest"])
def test_restore_refuses_a_corrupt_backup_and_writes_nothing(tmp_path: Path, damage: str) -> None:
    made = backup.create(tmp_path / "backups", make_home(tmp_path / "a"))
    victim = made.path / "traffic" / "predictions.jsonl"
    if damage == "flip":
        data = bytearray(victim.read_bytes())
        data[3] ^= 1
        victim.write_bytes(bytes(data))
    elif damage == "delete":
        victim.unlink()
    elif damage == "extra":
        (made.path / "traffic" / "planted.jsonl").write_text("{}\n")
    else:
        (made.path / "manifest.json").write_text("{not json")
    target = locations(tmp_path / "b")
    with pytest.raises(InputError, match=r"corrupt backup|not a usable backup") as err:
        backup.restore(made.path, target)
    if damage != "manifest":
        assert "traffic/" in str(err.value)
    assert not (tmp_path / "b").exists()


def test_restore_refuses_a_home_with_state_unless_forced(tmp_path: Path) -> None:
    made = backup.create(tmp_path / "backups", make_home(tmp_path / "a"))
    target = make_home(tmp_path / "b")
    (target.traffic / "predictions.jsonl").write_text('{"prediction_id": "newer"}\n')
    with pytest.raises(InputError, match="already holds state"):
        backup.restore(made.path, target)
    result = backup.restore(made.path, target, force=True)
    assert (target.traffic / "predictions.jsonl").read_text().startswith('{"prediction_id": "a"}')
    kept = [p for p in result.moved_aside if p.name.startswith("traffic.replaced-")]
    assert kept and "newer" in (kept[0] / "predictions.jsonl").read_text()


def test_a_log_appended_during_the_copy_is_copied_up_to_its_size_then(tmp_path: Path) -> None:
    source, dest = tmp_path / "log.jsonl", tmp_path / "copy.jsonl"
    source.write_bytes(b'{"a": 1}\n')
    with source.open("ab") as writer:
        size = source.stat().st_size
        backup._copy_prefix(source, dest)
        writer.write(b'{"b": 2}\n')
    assert dest.read_bytes() == b'{"a": 1}\n' and dest.stat().st_size == size


def test_prune_keeps_thirty_days_and_always_the_newest(tmp_path: Path) -> None:
    home = make_home(tmp_path / "a")
    root = tmp_path / "backups"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    made = {
        days: backup.create(root, home, now=now - timedelta(days=days)).path
        for days in (45, 31, 29, 1)
    }
    assert sorted(backup.prune(root, now=now)) == sorted([made[45], made[31]])
    assert sorted(root.iterdir()) == sorted([made[29], made[1]])
    assert backup.prune(root, keep_days=0, now=now + timedelta(days=400)) == [made[29]]
    assert [p.name for p in root.iterdir()] == [made[1].name]  # the newest stays


def test_find_names_a_folder_without_backups(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no backup here"):
        backup.find(tmp_path)
