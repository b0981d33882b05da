"""The wiring: ``loanctl`` hands the monitor commands the training pipeline as their trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from loanctl import cli
from loanctl.retrain import pipeline_trainer
from monitoring import cli as monitor_cli
from monitoring.cli import MonitorWiring
from monitoring.settings import RetrainConfig


def test_the_root_wires_the_training_pipeline_into_the_monitor_commands() -> None:
    ctx = typer.Context(typer.main.get_command(cli.app))
    cli.main(ctx, version=False)
    assert ctx.obj == MonitorWiring(trainer_factory=pipeline_trainer)


def test_monitor_run_builds_its_trainer_with_the_wired_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "applications.parquet"
    config = tmp_path / "monitoring.yaml"
    config.write_text(yaml.safe_dump({"retrain": {"enabled": True, "data": str(data)}}))
    monkeypatch.setenv("LOAN_HOME", str(tmp_path))
    asked: list[RetrainConfig] = []

    def factory(retrain: RetrainConfig):
        asked.append(retrain)
        return lambda reason: None

    args = ["run", "--once", "--no-evidently", "--config", str(config)]
    wired = CliRunner().invoke(monitor_cli.app, args, obj=MonitorWiring(factory))
    assert wired.exit_code == 0, wired.output
    assert [r.data for r in asked] == [data]
    unwired = CliRunner().invoke(monitor_cli.app, args)
    assert unwired.exit_code == 0, unwired.output
    assert "no training is wired in" in unwired.output
