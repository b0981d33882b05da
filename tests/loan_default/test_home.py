"""Where the platform's state lives: one rule for every process (loan_default.home)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loan_default import home
from loan_default.settings import LoanSettings

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_keeps_its_state_in_var_whatever_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOAN_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert home.checkout_root() == ROOT
    assert home.platform_home() == ROOT / "var" == LoanSettings().home


def test_loan_home_wins_is_made_absolute_and_carries_the_bento_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOAN_HOME", "state")
    monkeypatch.delenv("BENTOML_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert home.configure_environment() == tmp_path / "state"
    assert Path(home.os.environ["BENTOML_HOME"]) == tmp_path / "state" / "bentoml"
    assert LoanSettings().tracking_uri() == f"sqlite:///{tmp_path / 'state/mlflow/mlflow.db'}"
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "elsewhere"))
    assert home.bentoml_home() == tmp_path / "elsewhere"  # an explicit store always wins


def test_every_python_of_the_environment_exports_the_store_before_bentoml_reads_it(
    tmp_path: Path,
) -> None:
    """The .pth hook: a bare interpreter with only LOAN_HOME set already has BENTOML_HOME."""
    probe = "import os; print(os.environ['BENTOML_HOME'])"
    env = {"PATH": "/usr/bin:/bin", "LOAN_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == str(tmp_path / "bentoml")


def test_the_version_comes_from_the_sources_pyproject_when_not_installed(monkeypatch) -> None:
    import importlib.metadata
    import tomllib

    root = home.checkout_root()
    assert root is not None
    expected = tomllib.loads((root / "pyproject.toml").read_text())
    assert home.project_version() == expected["project"]["version"]  # installed (editable)

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    # A copy of the sources on the path (the monitor's image): read from its pyproject.toml.
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert home.project_version() == expected["project"]["version"]
    monkeypatch.setattr(home, "checkout_root", lambda: None)
    assert home.project_version() == "unknown"
