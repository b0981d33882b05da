"""Test isolation: every session gets its own run-time home, Bento model store and MLflow store.

The environment is set before anything imports bentoml or mlflow, so no test touches the
developer's ~/bentoml, ./var or a real tracking server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="loan-tests-"))
os.environ["LOAN_HOME"] = str(_SESSION_HOME)
os.environ["BENTOML_HOME"] = str(_SESSION_HOME / "bentoml")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_HOME / 'mlflow' / 'mlflow.db'}"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ.setdefault("OMP_NUM_THREADS", "1")
(_SESSION_HOME / "mlflow").mkdir(parents=True, exist_ok=True)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TESTDATA = Path(__file__).resolve().parent / "testdata"


@pytest.fixture(scope="session")
def session_home() -> Path:
    """The run-time home shared by this test session (LOAN_HOME)."""
    return _SESSION_HOME


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: the real datasets are not part of the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not available: {SHARED_DATA} is absent")
    return SHARED_DATA
