"""Which model a serving worker loads, and loading it safely.

The tag comes from ``LOAN_MODEL_TAG``, else from the MLflow alias ``champion``
(``loan_default.aliases.resolve_alias``). Only in development does a missing champion fall back to
the newest ``loan_default`` model of the Bento store; production never serves an implicit
``:latest``. A model whose schema fingerprint differs from this code's schema is refused.
"""

from __future__ import annotations

import logging
import os

import bentoml

from loan_default.errors import NotFoundError, UnavailableError
from loan_default.schema import schema_fingerprint
from loan_default.store import BENTO_MODEL_NAME, LoadedModel, load_model
from runners.settings import ServingSettings

logger = logging.getLogger(__name__)


def _champion_tag() -> str | None:
    from mlflow.exceptions import MlflowException

    from loan_default.aliases import resolve_alias

    try:
        tag: str | None = resolve_alias("champion")
    except MlflowException as exc:
        raise UnavailableError(
            f"no model to serve: LOAN_MODEL_TAG is not set and the MLflow registry cannot be "
            f"read to resolve 'champion' ({exc.message})"
        ) from None
    return tag


def resolve_model_tag(settings: ServingSettings) -> str:
    """The Bento model tag to serve; ``UnavailableError`` (a startup error) if there is none."""
    if settings.model_tag:
        return settings.model_tag
    tag = _champion_tag()
    if tag:
        return tag
    if settings.environment == "development":
        models = bentoml.models.list(BENTO_MODEL_NAME)
        if models:
            newest = max(models, key=lambda m: m.creation_time)
            logger.warning("development: no champion, serving the newest model %s", newest.tag)
            return str(newest.tag)
    raise UnavailableError(
        "no model to serve: LOAN_MODEL_TAG is not set and the MLflow registered model "
        "'loan_default' has no 'champion' alias (promote one with `loanctl models promote`, "
        "or set LOAN_MODEL_TAG=loan_default:<version>)"
    )


def load_serving_model(settings: ServingSettings) -> LoadedModel:
    """Load the model for a serving worker: one LightGBM thread per call (the OpenMP trap).

    Raises:
        UnavailableError: no model configured, not in the store, or built for another schema.
    """
    tag = resolve_model_tag(settings)
    try:
        loaded = load_model(tag)
    except bentoml.exceptions.NotFound:
        raise UnavailableError(
            f"model {tag!r} is not in the Bento model store "
            f"(BENTOML_HOME={os.environ.get('BENTOML_HOME', '~/bentoml')}); import it with "
            "`bentoml models import` or train it here"
        ) from None
    except NotFoundError as exc:
        raise UnavailableError(str(exc)) from None
    expected = schema_fingerprint()
    if loaded.metadata.schema_fingerprint != expected:
        raise UnavailableError(
            f"model {tag} was trained on input schema {loaded.metadata.schema_fingerprint}, "
            f"this service speaks schema {expected}: retrain or serve a matching model"
        )
    loaded.model.num_threads = 1
    return loaded
