"""The MLflow flavour of a registered model: a pyfunc around the pickled ScoringModel.

``mlflow.pyfunc.load_model("models:/loan_default@champion").predict(frame)`` returns the same
calibrated default probabilities as the Bento store's model, because it *is* that model: the
artifact is the very pickle written to the Bento store. Input is canonical applications (any
subset of the canonical columns; absent optional columns are missing). Categories travel as
strings and are encoded by the FeatureEngineer, so no pandas ``category`` dtype ever reaches
MLflow's signature checks, and no skops trust list is needed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from loan_default.model import ScoringModel
from loan_default.schema import FEATURE_FIELDS, Kind, coerce_frame

ARTIFACT = "scoring_model"


class ScoringModelPyfunc(PythonModel):
    """Canonical applications -> calibrated P(default), one float per row."""

    def load_context(self, context: PythonModelContext) -> None:
        with Path(context.artifacts[ARTIFACT]).open("rb") as fh:
            model = pickle.load(fh)
        if not isinstance(model, ScoringModel):
            raise TypeError(f"{context.artifacts[ARTIFACT]} does not hold a ScoringModel")
        self.model = model

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.model.predict_proba(coerce_frame(frame, with_label=False))


def _column(kind: Kind) -> DataType:
    if kind in (Kind.NUMBER, Kind.INTEGER, Kind.BOOLEAN):
        return DataType.double
    return DataType.string


def signature() -> ModelSignature:
    """Input: the scored canonical columns (optional ones not required); output: P(default).

    The identifier, the date and protected attributes are not scored, so they are not part of
    the signature (MLflow ignores extra columns).
    """
    inputs = Schema([ColSpec(_column(f.kind), f.name, required=f.required) for f in FEATURE_FIELDS])
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1,), "default_probability")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example() -> pd.DataFrame:
    """One application made of the schema's documented example values (no real applicant)."""
    row: dict[str, Any] = {}
    for spec in FEATURE_FIELDS:
        if spec.example is None:
            continue
        kind = _column(spec.kind)
        row[spec.name] = float(spec.example) if kind is DataType.double else str(spec.example)
    return pd.DataFrame([row])
