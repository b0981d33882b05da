"""runners.strict_json: the count of key ends, byte by byte or vectorised, and a repeated key
in a batch body large enough for the vectorised count."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from loan_default.api import BatchRequest
from runners.strict_json import _VECTOR_BYTES, key_ends, repeated_key
from tests.runners.tiny_model import payloads

_PIECES = st.sampled_from([b'"', b":", b'":', b'"a":', b"x", b" ", b"\\", b'\\":', b"\xff"])


@given(st.lists(_PIECES, max_size=200), st.integers(0, 3))
@settings(max_examples=200, deadline=None)
def test_key_ends_counts_what_bytes_count_counts_at_every_size(
    pieces: list[bytes], padding: int
) -> None:
    small = b"".join(pieces)
    large = small * (_VECTOR_BYTES // max(len(small), 1) + 1) + b"y" * padding
    for body in (small, large):
        assert key_ends(body) == body.count(b'":')
    assert len(large) >= _VECTOR_BYTES or not small


def test_a_repeated_key_in_a_large_batch_is_named() -> None:
    from loan_default.data.generate import generate_applications

    rows = [orjson.dumps(r) for r in payloads(generate_applications(120, seed=3))]
    clean = b'{"applications":[' + b",".join(rows) + b"]}"
    assert len(clean) > _VECTOR_BYTES
    assert repeated_key(clean, BatchRequest.model_validate_json(clean)) is None
    rows[77] = rows[77][:-1] + b',"credit_amount":5000.0}'
    twice = b'{"applications":[' + b",".join(rows) + b"]}"
    assert repeated_key(twice, BatchRequest.model_validate_json(twice)) == "credit_amount"
