"""Forgetting what has expired: idempotency keys after a day, tombstones after
TOMBSTONE_RETENTION, with no cron job and no timer.

A purge rides on traffic. A write that may leave something to expire later (a keyed
request, a delete) nudges the purger; at most once per `interval` per process, that
starts one background batch of deletes, which never holds up the request that nudged it.
An idle service sends nothing at all, so a Neon compute that scaled to zero stays
asleep, and a busy one purges about as fast as it creates. A failed batch (the database
away) is only logged: the next nudge after the interval tries again.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60.0
# Rows one purge deletes of each kind, at most: a short statement, whatever the backlog.
PURGE_BATCH = 1000


class Purger:
    """Runs `purges` (each deletes one batch and says how many) now and then, when nudged."""

    def __init__(
        self,
        purges: dict[str, Callable[[], Awaitable[int]]],
        *,
        interval: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self._purges = purges
        self._interval = interval
        self._next_at = 0.0
        self._running: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """Start a purge in the background if none ran for `interval` (costs a clock read
        otherwise)."""
        now = time.monotonic()
        if now < self._next_at:
            return
        self._next_at = now + self._interval
        self._running = asyncio.create_task(self._purge())

    async def _purge(self) -> None:
        for name, purge in self._purges.items():
            try:
                purged = await purge()
            except Exception as exc:
                logger.warning("Purging %s failed (%s); trying again later", name, exc)
                return
            if purged:
                logger.info("Purged %d expired %s", purged, name)

    async def close(self) -> None:
        """Wait for a purge under way, so the pool is not closed beneath it."""
        if self._running is not None:
            await self._running
