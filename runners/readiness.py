"""Readiness: the model is loaded, speaks this code's schema, and answers a canary.

Checked once when a worker starts (:func:`check`) and cached: ``/readyz`` and the gRPC health
service report the result without a model call per probe. The canary is scored straight by the
model, never through the scorer, so it is not logged as traffic. A paused service stays ready:
it answers every scoring call 503 with the reason, which a load balancer would hide.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pydantic import ValidationError

from loan_default.api import LoanApplication
from loan_default.schema import schema_fingerprint
from loan_default.store import LoadedModel

logger = logging.getLogger(__name__)

CANARY = {"client_income": 6750.0, "credit_amount": 61190.55, "age_days": 13957.0}
"""A plain application with the required fields only (everything else missing)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """The start-up check's result.

    Attributes:
        ready: the worker can score.
        reason: why not (empty when ready).
        canary_probability: what the model answered for :data:`CANARY`.
    """

    ready: bool
    reason: str = ""
    canary_probability: float | None = None


def check(loaded: LoadedModel) -> Readiness:
    """Score :data:`CANARY` with the loaded model; ready when it answers a probability.

    Not ready (logged) when the model was built for another schema, when the canary is not
    a valid application any more, or when the model raises or answers something other than
    one finite probability in [0, 1].
    """
    expected = schema_fingerprint()
    if loaded.metadata.schema_fingerprint != expected:
        return _not_ready(
            f"model {loaded.metadata.tag} speaks schema {loaded.metadata.schema_fingerprint}, "
            f"this service {expected}"
        )
    try:
        record = LoanApplication.model_validate(CANARY).__dict__
    except ValidationError as exc:
        return _not_ready(f"the canary application is invalid: {exc.errors()[0]['msg']}")
    try:
        answer = loaded.model.predict_proba_records([record])
    except (ValueError, TypeError, KeyError, ArithmeticError, RuntimeError) as exc:
        return _not_ready(f"the model failed on the canary: {type(exc).__name__}: {exc}")
    values = [float(p) for p in answer]
    if len(values) != 1 or not math.isfinite(values[0]) or not 0.0 <= values[0] <= 1.0:
        return _not_ready(f"the model answered {values!r} for the canary, not one probability")
    return Readiness(True, canary_probability=values[0])


def _not_ready(reason: str) -> Readiness:
    logger.error("not ready: %s", reason)
    return Readiness(False, reason=reason)
