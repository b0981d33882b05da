"""Adaptive batching inside the API worker: the calls that arrive together are scored together.

Under load, one turn of the event loop reads many requests (each keep-alive connection that has
sent one). Scored one by one, each pays the fixed costs of a call: a model call, a
traffic-log ``write(2)`` and an index transaction. :class:`MicroBatcher` queues the calls made
during one turn and scores them at the end of it with :meth:`runners.scorer.Scorer.score_many`,
so all of them share one matrix, one model call, one write and one commit, and each is still
answered only once its records are in the log. Nothing waits for a timer: a lone call is scored
in the next turn (microseconds), a busy worker batches by itself. This is what BentoML's
adaptive batching does across processes, without the hop (``docs/serving.md`` has the
measurements).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from loan_default.bodies import PredictionBody
from runners.scorer import ScoreRequest

Answers = list[list[PredictionBody]]


class MicroBatcher:
    """Groups the score calls of one event-loop turn (up to ``max_rows`` applications).

    Args:
        score_many: scores several calls at once (``Scorer.score_many``); it raises for all of
            them or answers all of them.
        max_rows: a group is scored as soon as it holds this many applications.
    """

    def __init__(
        self, score_many: Callable[[Sequence[ScoreRequest]], Answers], *, max_rows: int = 256
    ) -> None:
        self._score_many = score_many
        self.max_rows = max_rows
        self._pending: list[tuple[ScoreRequest, asyncio.Future[list[PredictionBody]]]] = []
        self._rows = 0
        self._scheduled = False

    async def score(self, request: ScoreRequest) -> list[PredictionBody]:
        """The predictions of one call, scored with the others of this turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[PredictionBody]] = loop.create_future()
        self._pending.append((request, future))
        self._rows += len(request.applications)
        if self._rows >= self.max_rows:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        group, self._pending, self._rows = self._pending, [], 0
        if not group:
            return
        try:
            answers = self._score_many([request for request, _ in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc=exc)
                return
            # Score the calls one by one, so one call's failure is not every call's.
            for request, future in group:
                try:
                    _settle(future, self._score_many([request])[0])
                except Exception as single:
                    _settle(future, exc=single)
            return
        for (_, future), answer in zip(group, answers, strict=True):
            _settle(future, answer)


def _settle(
    future: asyncio.Future[list[PredictionBody]],
    result: list[PredictionBody] | None = None,
    *,
    exc: BaseException | None = None,
) -> None:
    if future.done():  # the caller went away (its records are logged all the same)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert result is not None
        future.set_result(result)
