"""Body-read deadlines: a slow await is ended, a fast one untouched, other cancels kept."""

from __future__ import annotations

import asyncio

import pytest

from runners.deadlines import DeadlineExceededError, Deadlines


def test_a_read_past_its_deadline_is_ended_and_a_fast_one_is_not() -> None:
    deadlines = Deadlines(sweep_seconds=0.01)

    async def scenario() -> None:
        assert await deadlines.run(asyncio.sleep(0, "fast"), 0.05) == "fast"
        with pytest.raises(DeadlineExceededError):
            await deadlines.run(asyncio.Event().wait(), 0.05)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the task itself is not cancelled
        assert not deadlines._pending

    asyncio.run(scenario())


def test_a_cancel_from_elsewhere_is_not_turned_into_a_timeout() -> None:
    deadlines = Deadlines(sweep_seconds=0.01)

    async def scenario() -> None:
        reader = asyncio.create_task(deadlines.run(asyncio.Event().wait(), 60))
        await asyncio.sleep(0.02)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader

    asyncio.run(scenario())
