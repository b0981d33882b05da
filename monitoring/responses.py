"""What the sidecar does about a window: retrain, or stop scoring bad data.

* Fired triggers start **one** training run on the configured data, through the
  :data:`Trainer` the wiring layer passes in (``loanctl.retrain.pipeline_trainer`` runs
  ``training.pipeline.run_training(data, source=..., reason=...)``). The new model is
  registered as the ``challenger``, never promoted: a person compares and promotes it
  (``loanctl models promote``), or rolls back (``loanctl models rollback``).
* A **data-quality breach** pauses scoring (``loan_default.control.pause``): the service then
  answers 503 with the reason until an operator runs ``loanctl service resume``.

Every decision is appended to the trigger log (JSON lines), next to the window reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from loan_default import control
from loan_default.errors import PauseFileError
from loan_default.traffic import utcnow
from monitoring.settings import RetrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainOutcome:
    """What a training run registered."""

    bento_tag: str | None
    mlflow_version: str | None
    metrics: dict[str, float]


Trainer = Callable[[str], RetrainOutcome]
"""Runs a training for the given reason."""
TrainerFactory = Callable[[RetrainConfig], Trainer]
"""Builds the trainer of the config's ``retrain`` section. Monitoring does not import training:
the wiring layer passes it in (``loanctl.retrain.pipeline_trainer``)."""


class TriggerLog:
    """Append-only JSON lines: one per fired trigger, training start/end and pause."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        line = orjson.dumps({"event": event, "at": utcnow(), **fields}, default=str) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                fh.write(line)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [orjson.loads(line) for line in self.path.read_bytes().splitlines() if line]


class Retrainer:
    """Runs at most one training at a time, in the background or in the caller's thread."""

    def __init__(self, trainer: Trainer | None, trigger_log: TriggerLog) -> None:
        self.trainer = trainer
        self.log = trigger_log
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self._running: Future[None] | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def start(self, reason: str, *, wait: bool) -> bool:
        """Start a training; False (and logged) when disabled or one is already running."""
        if self.trainer is None:
            self.log.write("retrain_skipped", reason=reason, why="retraining is disabled")
            return False
        if self.busy:
            self.log.write("retrain_skipped", reason=reason, why="a training is already running")
            return False
        self.log.write("retrain_started", reason=reason)
        self._running = self._pool.submit(self._run, self.trainer, reason)
        if wait:
            self._running.result()
        return True

    def _run(self, trainer: Trainer, reason: str) -> None:
        try:
            outcome = trainer(reason)
        except Exception as exc:  # a job boundary: report any failure, keep monitoring
            log.exception("triggered training failed")
            self.log.write("retrain_failed", reason=reason, error=f"{type(exc).__name__}: {exc}")
            return
        self.log.write(
            "retrain_finished",
            reason=reason,
            bento_tag=outcome.bento_tag,
            mlflow_version=outcome.mlflow_version,
            metrics=outcome.metrics,
            note="registered as challenger; promote with `loanctl models promote`",
        )

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


def pause_scoring(home: Path, reason: str, trigger_log: TriggerLog) -> control.PauseState:
    """Pause scoring (503) until an operator resumes it; idempotent."""
    try:
        already = control.status(home)
    except PauseFileError:
        already = None  # replaced below by a readable pause
    state = control.pause(home, reason, by="monitoring")
    if already is None:
        trigger_log.write("scoring_paused", reason=reason)
        log.error("scoring paused: %s (resume with `loanctl service resume`)", reason)
    return state
