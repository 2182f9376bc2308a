"""The purger rides on traffic: a nudge starts at most one batch per interval, in the
background, and a failing batch is logged and tried again after the interval."""

import asyncio
import logging

import pytest

from todo_api.services.purge import Purger


class Batches:
    """Counts the batches a purge ran; fails the ones told to."""

    def __init__(self, *, failing: bool = False) -> None:
        self.runs = 0
        self.failing = failing

    async def __call__(self) -> int:
        self.runs += 1
        if self.failing:
            raise ConnectionError("the database is away")
        return 3


async def test_nudges_within_the_interval_start_one_batch() -> None:
    keys, tombstones = Batches(), Batches()
    purger = Purger({"keys": keys, "tombstones": tombstones}, interval=60)

    for _ in range(100):
        purger.nudge()
    await purger.close()

    assert (keys.runs, tombstones.runs) == (1, 1)


async def test_a_nudge_after_the_interval_starts_another() -> None:
    keys = Batches()
    purger = Purger({"keys": keys}, interval=0.05)

    purger.nudge()
    await purger.close()
    await asyncio.sleep(0.06)
    purger.nudge()
    await purger.close()

    assert keys.runs == 2


async def test_nothing_runs_without_a_nudge() -> None:
    keys = Batches()
    Purger({"keys": keys}, interval=0)
    await asyncio.sleep(0.01)

    assert keys.runs == 0


async def test_a_failing_batch_is_logged_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = Batches(failing=True)
    purger = Purger({"keys": keys}, interval=60)

    with caplog.at_level(logging.WARNING):
        purger.nudge()
        await purger.close()

    assert keys.runs == 1
    assert "Purging keys failed" in caplog.text
