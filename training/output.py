"""Where the libraries' own output goes during ``loanctl train``.

A normal run prints the progress and the comparison table only. The libraries' log records
(MLflow, BentoML, optbinning, ...) and Python warnings are not lost: they go to
``library.log`` in the run folder. With ``--verbose`` they go to the terminal (stderr) too,
at INFO level.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LIBRARIES = ("mlflow", "bentoml", "alembic", "optbinning", "lightgbm", "py.warnings", "urllib3")
_QUIET_ENV = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
"""MLflow draws a tqdm bar when it copies artifacts; that is library output as well."""


@contextmanager
def library_output(log_file: Path, *, verbose: bool) -> Iterator[None]:
    """Route the libraries' log records and warnings to ``log_file`` (and stderr if verbose).

    The previous logger settings, the warnings capture and the environment are restored on
    exit, so library code called afterwards behaves as before.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [handler]
    if verbose:
        console = logging.StreamHandler()
        console.setFormatter(handler.formatter)
        handlers.append(console)
    saved = {}
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate, list(logger.handlers))
        logger.handlers = list(handlers)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    env = {k: os.environ.get(k) for k in _QUIET_ENV}
    if not verbose:
        os.environ.update(_QUIET_ENV)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for name, (level, propagate, old) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.level, logger.propagate = old, level, propagate
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        handler.close()
