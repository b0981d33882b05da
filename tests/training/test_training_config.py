"""Bad configurations fail with one clear line (ConfigError -> exit 2)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loan_default.errors import ConfigError
from loanctl.cli import app
from tests.training.conftest import TINY
from training.config import TrainingConfig


def _broken(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def test_the_shipped_config_is_valid() -> None:
    config = TrainingConfig.load()
    assert config.folds == 5
    assert {c.algorithm.value for c in config.candidates} >= {
        "logistic_regression", "decision_tree", "random_forest", "lightgbm"
    }  # fmt: skip
    assert {c.imbalance.value for c in config.candidates} >= {"class_weight", "smote"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_broken(folds=-5), "folds"),
        (_broken(unknown_key=1), "unknown_key"),
        (_broken(candidates=[{"name": "x", "algorithm": "xgboost"}]), "candidates.0.algorithm"),
        (_broken(candidates=[]), "candidates"),
        (_broken(risk_medium=0.8), "risk_medium"),
        (
            _broken(candidates=[{"name": "t", "algorithm": "decision_tree", "monotone": {"a": 1}}]),
            "lightgbm",
        ),
        (
            _broken(candidates=[{"name": "a", "algorithm": "lightgbm"}] * 2),
            "unique",
        ),
    ],
)
def test_bad_configs_name_the_key(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig.from_dict(data)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_broken(candidates=[{"name": "x", "algorithm": "xgboost"}]), "algorithm"),
        (_broken(folds=-1), "folds"),
        (_broken(typo_key=True), "typo_key"),
        (None, "does not exist"),
    ],
)
def test_cli_bad_config_is_one_error_line_exit_2(
    tmp_path: Path, applications_file: Path, config: Any, message: str
) -> None:
    path = _write(tmp_path, config) if config is not None else tmp_path / "missing.yaml"
    result = CliRunner().invoke(
        app, ["train", "--data", str(applications_file), "--config", str(path), "--quiet"]
    )
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)


def test_cli_exit_code_and_error_line(tmp_path: Path) -> None:
    """Through the real entry point: one `error:` line on stderr, exit code 2."""
    import subprocess
    import sys

    path = _write(tmp_path, _broken(folds=-2))
    proc = subprocess.run(
        [sys.executable, "-m", "loanctl.cli", "train", "--data", "x.csv",
         "--config", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "folds" in lines[0]


def test_cli_missing_data_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope.csv"), "--quiet"])
    assert result.exception is not None
    assert getattr(result.exception, "exit_code", None) == 2
    assert "nope.csv" in str(result.exception)
