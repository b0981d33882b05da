"""MLflow tracking: where runs go, what each run records, and logging the pyfunc model.

One parent run per ``loanctl train``; one nested run per candidate. Calls are few and batched
(``log_params``/``log_metrics`` with dicts, ``log_artifacts`` of a folder) so tests stay fast.
The tracking URI is set when training starts, never at import.

Runs are opened when the results are published, after the work, so each is created with its
true start (:func:`start_run_at`): the parent run lasts the whole training, from reading the
data to registration; a candidate's run lasts its cross-validation.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow

from loan_default.settings import LoanSettings
from training.pyfunc import ARTIFACT, input_example, signature

PACKAGES = (
    "scikit-learn",
    "lightgbm",
    "imbalanced-learn",
    "pandas",
    "numpy",
    "scipy",
    "mlflow",
    "bentoml",
    "pydantic",
)
"""Packages whose versions every run records and the pyfunc model requires."""


def configure(experiment: str, settings: LoanSettings | None = None) -> str:
    """Point MLflow at the configured store and experiment.

    With a local SQLite store, the experiment's artifacts go to an ``artifacts`` folder beside
    the database: MLflow's own default is ``./mlruns`` under the *current directory*, which
    would scatter artifacts into whatever folder training happens to run from. A remote
    tracking server keeps its own artifact root.
    """
    uri = (settings or LoanSettings()).tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        if mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment(experiment)
    return uri


def start_run_at(
    experiment: str,
    name: str,
    started_at: float,
    *,
    nested: bool = False,
    tags: dict[str, str] | None = None,
) -> mlflow.ActiveRun:
    """Create a run that started at ``started_at`` (epoch seconds) and make it the active one.

    ``mlflow.start_run`` stamps the current time; training opens its runs only to publish, so
    the durations MLflow shows would be the publishing's (under a second).
    """
    from mlflow.tracking.context.registry import resolve_tags

    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise RuntimeError(f"MLflow experiment {experiment!r} does not exist: call configure()")
    run_tags = {"mlflow.runName": name, **(tags or {})}
    if nested and (parent := mlflow.active_run()) is not None:
        run_tags["mlflow.parentRunId"] = parent.info.run_id
    run = mlflow.MlflowClient().create_run(
        found.experiment_id,
        start_time=int(started_at * 1000),
        tags=resolve_tags(run_tags),
        run_name=name,
    )
    return mlflow.start_run(run_id=run.info.run_id, nested=nested)


def log_training_data(
    frame: Any, *, path: Path, data_hash: str, source: str, target: str, quarantined: int
) -> None:
    """Log the training data into the active run as an MLflow dataset (``log_input``).

    The dataset is named after the file and points at it; its digest is the start of the
    platform's data hash (MLflow keeps 36 characters), the whole hash is in its tags.
    """
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():  # MLflow registers its local-file source twice
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
        dataset = from_pandas(
            frame, source=str(path.resolve()), targets=target, name=path.name,
            digest=data_hash[:36],
        )  # fmt: skip
    mlflow.log_input(
        dataset,
        context="training",
        tags={"data_hash": data_hash, "source_mapping": source,
              "rows_quarantined": str(quarantined)},
    )  # fmt: skip


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit (``-dirty`` when files changed); ``None`` outside git."""
    where = cwd or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def machine() -> dict[str, str]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
    }


def run_tags(*, data_hash: str, seed: int, commit: str | None, source: str) -> dict[str, str]:
    """Tags of the parent run: lineage and environment."""
    tags = {
        "data_hash": data_hash,
        "data_source": source,
        "seed": str(seed),
        "git_commit": commit or "none",
    }
    tags.update({f"version.{k}": v for k, v in package_versions().items()})
    tags.update({f"machine.{k}": v for k, v in machine().items()})
    return tags


def log_candidate(
    name: str,
    *,
    experiment: str,
    seconds: float,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: Path | None,
) -> str:
    """One nested run for a candidate, lasting its cross-validation (``seconds``); its id."""
    with start_run_at(experiment, name, time.time() - seconds, nested=True) as run:
        mlflow.set_tags(tags)
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        if artifacts is not None:
            mlflow.log_artifacts(str(artifacts))
        return str(run.info.run_id)


def conda_env() -> dict[str, Any]:
    """The model's environment: Python, pip (pinned to the version this Python bundles, as
    the uv environment has no pip of its own to ask) and the pinned packages."""
    import ensurepip

    requirements = [f"{pkg}=={ver}" for pkg, ver in package_versions().items() if ver != "absent"]
    return {
        "name": "loan_default",
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={platform.python_version()}",
            f"pip<={ensurepip.version()}",
            {"pip": requirements},
        ],
    }


def log_scoring_model(model_pickle: Path, *, name: str = "model") -> Any:
    """Log the pyfunc model into the active run; returns MLflow's ``ModelInfo``.

    The model is logged from code (``training/pyfunc_entry.py``), with its signature and an
    input example built from the schema's documented examples (no applicant's data).
    """
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts={ARTIFACT: str(model_pickle)},
        conda_env=conda_env(),
        signature=signature(),
        input_example=input_example(),
    )
    return info
