"""Model changes reach the running service: the worker follows the registry's ``champion``.

``loanctl models promote`` and ``rollback`` move the MLflow alias; each serving worker (the API
workers and the explainer) polls it every ``LOAN_RELOAD_SECONDS`` (default 2 s). When the alias
names another Bento model, the worker loads it in a thread beside the one it serves, checks it
(``runners.readiness``, the start-up check: same input schema, a canary application that must
get a probability, compared with the old model's in the log), then switches with one attribute
assignment: no request fails, each answer names the version that scored it. The switch is
logged and counted (``loan_model_switches_total``; ``loan_model_info`` follows).

A model pinned by tag (``LOAN_MODEL_TAG``, or a Bento built with ``--arg model_tag``) is not
watched: that service serves its model until it is redeployed (``loanctl models promote``
says so). A failed check or an unreadable registry is logged and the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from loan_default.errors import LoanError
from loan_default.store import LoadedModel
from runners import metrics, readiness
from runners.loading import champion_tag, load_serving_model
from runners.settings import ServingSettings

logger = logging.getLogger(__name__)


def canary(loaded: LoadedModel) -> float:
    """The start-up readiness check (``runners.readiness``: schema, a canary application that
    must get one probability) on a candidate model; ``LoanError`` when it fails (a model that
    cannot score must never be switched to). Returns the canary's probability."""
    result = readiness.check(loaded)
    if not result.ready or result.canary_probability is None:
        raise LoanError(f"model {loaded.tag} failed its readiness check: {result.reason}")
    return result.canary_probability


class ModelWatcher:
    """Polls the champion alias and swaps the served model when it moves.

    Args:
        settings: serving settings (``reload_seconds``; a pinned ``model_tag`` disables it).
        current: the Bento tag served now.
        swap: installs a loaded and checked model; returns the version it replaced.
        worker: a name for the log (``api`` or ``explainer``).
    """

    def __init__(
        self,
        settings: ServingSettings,
        current: Callable[[], LoadedModel],
        swap: Callable[[LoadedModel], str],
        *,
        worker: str,
    ) -> None:
        self.settings = settings
        self.current = current
        self.swap = swap
        self.worker = worker
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.model_tag is None and self.settings.reload_seconds > 0

    def start(self) -> None:
        """Start polling on the running event loop (nothing when pinned or disabled)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_seconds)
            try:
                await self.check_once()
            except Exception:  # the poller must outlive any failure; the old model serves on
                logger.exception("%s: checking the champion failed; serving on", self.worker)

    async def check_once(self) -> str | None:
        """Switch to the champion if it moved; returns the new version, or ``None``."""
        tag = await asyncio.to_thread(champion_tag, self.settings)
        old = self.current()
        if tag is None or tag == old.tag:
            return None
        settings = self.settings.model_copy(update={"model_tag": tag})
        try:
            loaded = await asyncio.to_thread(load_serving_model, settings)
            p_new = await asyncio.to_thread(canary, loaded)
        except LoanError as exc:
            metrics.MODEL_SWITCHES.labels("refused").inc()
            logger.error("%s: not switching to %s: %s", self.worker, tag, exc)
            return None
        p_old = canary(old)
        replaced = self.swap(loaded)
        metrics.MODEL_SWITCHES.labels("switched").inc()
        logger.warning(  # an operator event: shown in the server's log at its default level
            "%s: model switched %s -> %s (champion moved; canary p=%.4f, old p=%.4f)",
            self.worker, replaced, loaded.metadata.version, p_new, p_old,
        )  # fmt: skip
        return loaded.metadata.version
