"""Send generated traffic (optionally shifted) to a running service: the drift demo's load.

``loanctl monitor replay --url http://127.0.0.1:3000 --rows 3000 --shift income_drop`` scores
synthetic applications through ``/v1/predict_batch`` and reports the outcomes the generator
drew through ``/v1/feedback``, so the sidecar sees both predictions and (some) labels.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from loan_default.data.generate import generate_applications
from loan_default.errors import InputError, LoanError, UnavailableError
from loan_default.schema import LABEL, frame_to_records


@dataclass
class ReplayResult:
    """What one replay sent and got back."""

    sent: int = 0
    feedback: int = 0
    seconds: float = 0.0
    model_versions: Counter[str] = field(default_factory=Counter)
    risk_mix: Counter[str] = field(default_factory=Counter)


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise UnavailableError(f"cannot reach the service at {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        cls = UnavailableError if response.status_code >= 500 else LoanError
        raise cls(f"{path} answered {response.status_code}: {message}")
    payload: dict[str, Any] = response.json()
    return payload


def replay(
    url: str,
    *,
    rows: int,
    seed: int,
    shift: str | None = None,
    batch_size: int = 500,
    feedback_share: float = 1.0,
    timeout: float = 60.0,
) -> ReplayResult:
    """Score ``rows`` generated applications and report a share of their outcomes.

    Args:
        url: the service's base URL (``http://127.0.0.1:3000``).
        rows: applications to send.
        seed: the generator's seed (the same seed sends the same applications).
        shift: a population shift preset (``loan_default.data.shifts.PRESETS``), or None.
        batch_size: applications per ``/v1/predict_batch`` call.
        feedback_share: share of predictions whose generated outcome is reported.

    Raises:
        InputError: bad arguments (an unknown shift names the presets).
        UnavailableError: the service cannot be reached or refuses to score (paused: 503).
    """
    if rows < 1 or batch_size < 1:
        raise InputError(f"rows and batch_size must be at least 1, got {rows} and {batch_size}")
    if not 0.0 <= feedback_share <= 1.0:
        raise InputError(f"feedback_share must be from 0 to 1, got {feedback_share}")
    frame = generate_applications(rows, seed=seed, shift=shift)
    applications = frame_to_records(frame)
    labels = frame[LABEL].to_numpy(dtype=np.int64)
    report = np.random.default_rng([seed, 0xFEED]).random(rows) < feedback_share
    result = ReplayResult()
    started = time.perf_counter()
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        for lo in range(0, rows, batch_size):
            batch = applications[lo : lo + batch_size]
            answer = _post(client, "/v1/predict_batch", {"applications": batch})
            for offset, prediction in enumerate(answer["predictions"]):
                result.sent += 1
                result.model_versions[prediction["model_version"]] += 1
                result.risk_mix[prediction["risk_category"]] += 1
                if report[lo + offset]:
                    body = {
                        "prediction_id": prediction["prediction_id"],
                        "observed_default": int(labels[lo + offset]),
                    }
                    _post(client, "/v1/feedback", body)
                    result.feedback += 1
    result.seconds = time.perf_counter() - started
    return result
