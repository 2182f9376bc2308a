"""A steady load of mixed API requests, for the tests that take the database away under it."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import httpx
from asyncpg import Record

from tests.helpers import todo_url, todos_url


@dataclass
class Outcome:
    started: float
    finished: float
    status: int


class Load:
    """Mixed requests from `workers` concurrent clients until stopped: each creates todos,
    lists them, reads, patches, toggles and deletes its own."""

    def __init__(self, client: httpx.AsyncClient, workers: int) -> None:
        self.client = client
        self.outcomes: list[Outcome] = []
        self.bad: list[str] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._work(f"load-{n}")) for n in range(workers)]

    async def _request(self, method: str, path: str, body: object = None) -> httpx.Response:
        started = time.monotonic()
        response = await self.client.request(method, path, json=body)
        self.outcomes.append(Outcome(started, time.monotonic(), response.status_code))
        if response.status_code == 503:
            if response.json().get("error_code") != "SERVICE_UNAVAILABLE" or not int(
                response.headers.get("retry-after", "0")
            ):
                self.bad.append(response.text)
        elif response.status_code not in {200, 201, 204}:
            self.bad.append(f"{method} {path}: {response.status_code} {response.text}")
        return response

    async def _work(self, user: str) -> None:
        step = 0
        while not self._stop.is_set():
            step += 1
            created = await self._request("POST", todos_url(user), {"title": f"t{step}"})
            await self._request("GET", todos_url(user) + "?limit=5")
            if created.status_code == 201:
                path = todo_url(user, created.json()["id"])
                await self._request("GET", path)
                await self._request("PATCH", path, {"description": f"d{step}"})
                await self._request("PATCH", path + "/complete")
                if step % 2:
                    await self._request("DELETE", path)
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def started_between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started and o.finished <= end]


RECOVERY_SECONDS = 5.0


@dataclass
class Outage:
    """When the database went away and came back, and what the load saw."""

    load: Load
    down: float  # stopping began
    stopped: float  # it was gone
    restarting: float  # starting began
    back: float  # it accepted connections again
    pool_size: int = 0
    pool_idle: int = 0

    def check(self, *, slowest_allowed: float) -> None:
        """Successes before, only 503s (with Retry-After and the JSON body) while gone, no
        request slower than `slowest_allowed`, and only successes again within 5 s of the
        database being back."""
        outcomes = self.load.outcomes
        assert not self.load.bad, self.load.bad[:5]
        before = self.load.started_between(0, self.down)
        assert before
        assert all(o.status < 300 for o in before)
        during = self.load.started_between(self.stopped, self.restarting)
        assert during
        assert {o.status for o in during} == {503}
        slowest = max(o.finished - o.started for o in outcomes)
        assert slowest <= slowest_allowed, slowest
        first_success = min(
            o.finished for o in outcomes if o.started >= self.back and o.status < 300
        )
        assert first_success - self.back <= RECOVERY_SECONDS
        after = [o for o in outcomes if o.started > first_success]
        assert after
        assert all(o.status < 300 for o in after)


async def take_away_under(
    load: Load,
    pool: "asyncpg.Pool[Record]",
    *,
    stop: Callable[[], None],
    start: Callable[[], None],
    seconds: float = 1.5,
) -> Outage:
    """Runs `load` for half a second, stops the database (blocking `stop`, in a thread)
    for `seconds`, starts it again, and keeps the load going until half a second after the
    first success (at most 5.5 s). Stops the load and returns what happened, and how many
    connections the app's `pool` then holds and has idle."""
    await asyncio.sleep(0.5)
    down = time.monotonic()
    await asyncio.to_thread(stop)
    stopped = time.monotonic()
    await asyncio.sleep(seconds)
    restarting = time.monotonic()
    await asyncio.to_thread(start)
    back = time.monotonic()
    while time.monotonic() < back + RECOVERY_SECONDS + 0.5:
        if any(o.started >= back and o.status < 300 for o in load.outcomes):
            await asyncio.sleep(0.5)
            break
        await asyncio.sleep(0.05)
    await load.stop()
    return Outage(load, down, stopped, restarting, back, pool.get_size(), pool.get_idle_size())
