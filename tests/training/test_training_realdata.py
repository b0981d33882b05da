"""``loanctl train`` on the real Home Credit sample: the figures, and a clean terminal.

One run of the real command (a subprocess, so its stdout and stderr are exactly what a user
sees), on a copy of the shipped config with the search turned off and the two weakest
candidates left out (the fastest the config allows; the scorecard, the baselines that matter,
LightGBM and the blend stay).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from training.config import TrainingConfig

HOME_CREDIT = "home_credit_application_train_sample5000.tsv.gz"
KEPT = ("scorecard", "logistic_regression", "random_forest", "lightgbm", "blend")
NOISE = re.compile(r"warning|warn\b|deprecat|INFO|cloudpickle|input example|pip version", re.I)


@pytest.mark.slow
@pytest.mark.realdata
def test_home_credit_train_prints_the_table_only_and_reaches_the_auc(
    shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / HOME_CREDIT
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    shipped = TrainingConfig.load()
    config = shipped.model_copy(
        update={
            "candidates": [shipped.candidate(name) for name in KEPT],
            "search": shipped.search.model_copy(update={"budget_seconds": 0}),
        }
    )
    config_file = tmp_path / "training.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = {**os.environ, "LOAN_HOME": str(tmp_path / "home"), "COLUMNS": "80"}
    env["BENTOML_HOME"] = str(tmp_path / "home" / "bentoml")
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    loanctl = Path(sys.executable).with_name("loanctl")
    done = subprocess.run(
        [str(loanctl), "train", "--data", str(path), "--source", "home_credit",
         "--config", str(config_file)],
        capture_output=True, text=True, env=env, timeout=1200, check=False,
    )  # fmt: skip
    print(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    for stream in (done.stdout, done.stderr):
        noisy = [line for line in stream.splitlines() if NOISE.search(line)]
        assert noisy == [], noisy
    # (Piped, the table is full width by design: loan_default/console.py.)

    run_dir = Path(re.findall(r"report in (\S+)", done.stdout)[-1])
    table = pd.read_csv(run_dir / "comparison.csv")
    assert list(table["candidate"]) == list(KEPT)
    assert table["roc_auc_mean"].notna().all() and table["holdout_roc_auc"].notna().all()
    champion = table[table["champion"]].iloc[0]
    print(table[["candidate", "roc_auc_mean", "roc_auc_std", "holdout_roc_auc"]])
    assert champion["roc_auc_mean"] >= 0.755
    assert "model fitted on 5,000 labelled rows (training + hold-out)" in done.stdout
    assert (run_dir / "candidates" / "scorecard" / "scorecard.csv").is_file()
