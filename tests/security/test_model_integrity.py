"""Model integrity: the pickle's SHA-256 is recorded at registration and checked before loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_default.errors import IntegrityError
from loan_default.store import MODEL_FILE, load_model
from tests.runners import tiny_model


def test_one_edited_byte_refuses_the_model() -> None:
    tag, _, _ = tiny_model.build("vtest-integrity")
    loaded = load_model(tag)
    assert loaded.metadata.artifact_sha256 and len(loaded.metadata.artifact_sha256) == 64
    path = Path(loaded.path) / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="altered after registration"):
        load_model(tag)
