"""The retraining that monitoring's triggers start: the training pipeline, joined here.

Monitoring and training never import each other; ``loanctl monitor run`` hands the sidecar
:func:`pipeline_trainer` (a :data:`monitoring.responses.TrainerFactory`).
"""

from __future__ import annotations

from loan_default.errors import ConfigError
from monitoring.responses import RetrainOutcome, Trainer
from monitoring.settings import RetrainConfig


def pipeline_trainer(config: RetrainConfig) -> Trainer:
    """The platform's training pipeline on the configured data."""
    if config.data is None:
        raise ConfigError("retrain.data is not set in the monitoring config: triggers cannot train")
    data, source, training_config = config.data, config.source, config.config

    def train(reason: str) -> RetrainOutcome:
        from training.pipeline import run_training

        result = run_training(
            data, source=source, config=training_config, reason=reason, quiet=True
        )
        return RetrainOutcome(
            bento_tag=result.bento_tag,
            mlflow_version=result.mlflow_version,
            metrics=result.metrics.flat(),
        )

    return train
