"""GET /metrics on the app as served, against the real database: requests counted by route
template and status, the latency histogram, 503s and database errors by kind, and the
pool's gauges while a connection is held. Each test builds an app of its own, so its
counters start at zero and the values asserted are exact. Last, `todo-api serve` with two
worker processes, whose counts add up whichever of them answers the scrape."""

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import make_settings
from tests.helpers import assert_error, todo_url, todos_url
from tests.processes import ApiProcess, command_env
from tests.scrape import value
from todo_api import __version__
from todo_api.db.database import Database, Query
from todo_api.main import create_app

TODOS_ROUTE = "/api/v1/users/{user_id}/todos"
TODO_ROUTE = "/api/v1/users/{user_id}/todos/{todo_id}"
HOLD_SECONDS = 1.5
_SLEEP = Query(sql=f"SELECT pg_sleep({HOLD_SECONDS})", parameters=())


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app`, its lifespan (the pool) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def eventually(client: httpx.AsyncClient, holds: Callable[[str], bool]) -> str:
    """The first scrape, within 5 s, for which `holds` is true."""
    async with asyncio.timeout(5):
        while True:
            text = await scrape(client)
            if holds(text):
                return text
            await asyncio.sleep(0.02)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_request_counts_under_its_route_template_and_the_user_id_appears_nowhere(
    app_database_url: str,
) -> None:
    async with serving(create_app(make_settings(app_database_url))) as client:
        listed = await client.get(todos_url("secret-user-42"))
        text = await scrape(client)

    labels = {"method": "GET", "route": TODOS_ROUTE, "status": str(listed.status_code)}
    assert value(text, "todo_api_http_requests_total", **labels) == 1
    assert value(text, "todo_api_http_requests_total", route=TODOS_ROUTE) == 1
    assert "secret-user-42" not in text


async def test_the_status_label_is_the_status_answered(app_database_url: str) -> None:
    async with serving(create_app(make_settings(app_database_url))) as client:
        ready = [await client.get("/health/ready") for _ in range(2)]
        invalid = await client.get(todo_url("status-user", "not-a-uuid"))
        nowhere = await client.get("/api/v1/nowhere/at/all")
        text = await scrape(client)

    assert [response.status_code for response in ready] == [200, 200]
    assert_error(invalid, 422, "VALIDATION_ERROR")
    assert_error(nowhere, 404, "NOT_FOUND")

    def count(route: str, status: str) -> float:
        return value(text, "todo_api_http_requests_total", method="GET", route=route, status=status)

    assert count("/health/ready", "200") == 2
    assert count(TODO_ROUTE, "422") == 1
    assert count("unmatched", "404") == 1
    assert "/nowhere" not in text
    assert "not-a-uuid" not in text


async def test_the_latency_histogram_counts_every_request_in_its_buckets(
    app_database_url: str,
) -> None:
    requests = 7
    async with serving(create_app(make_settings(app_database_url))) as client:
        for _ in range(requests):
            assert (await client.get("/health/ready")).status_code == 200
        text = await scrape(client)

    labels = {"method": "GET", "route": "/health/ready", "status": "200"}
    name = "todo_api_http_request_duration_seconds"
    assert value(text, f"{name}_count", **labels) == requests
    assert value(text, f"{name}_bucket", le="+Inf", **labels) == requests
    assert value(text, f"{name}_bucket", le="0.001", **labels) <= requests
    assert 0 < value(text, f"{name}_sum", **labels) < requests * 5


async def test_an_unreachable_database_counts_a_503_and_an_unavailable_error() -> None:
    url = f"postgresql://todo:todo@127.0.0.1:{_closed_port()}/todo"
    app = create_app(make_settings(url, db_connect_timeout=1))
    async with serving(app) as client:
        response = await client.get(todos_url("alice"))
        text = await scrape(client)

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert value(text, "todo_api_http_requests_total", route=TODOS_ROUTE, status="503") == 1
    assert value(text, "todo_api_http_503_responses_total") == 1
    assert value(text, "todo_api_db_errors_total", kind="unavailable") == 1
    assert value(text, "todo_api_db_errors_total", kind="timeout") == 0
    assert value(text, "todo_api_db_pool_in_use") == 0


async def test_the_pool_gauges_show_a_held_connection_and_a_request_queued_behind_it(
    app_database_url: str,
) -> None:
    """One connection, held by a slow statement: in use 1; a request for the same pool
    then queues (waiting 1) until the pool timeout makes it a 503 of kind timeout."""
    settings = make_settings(app_database_url, db_pool_size=1, db_pool_timeout=HOLD_SECONDS / 2)
    app = create_app(settings)
    async with serving(app) as client:
        idle = await scrape(client)
        database: Database = app.state.database
        holder = asyncio.create_task(database.fetch_one(_SLEEP))
        held = await eventually(client, lambda t: value(t, "todo_api_db_pool_in_use") == 1)
        queued = asyncio.create_task(client.get(todos_url("queued-user")))
        waiting = await eventually(client, lambda t: value(t, "todo_api_db_pool_waiting") == 1)
        response = await queued
        await holder
        after = await scrape(client)

    assert value(idle, "todo_api_db_pool_size") == 1
    assert (value(idle, "todo_api_db_pool_in_use"), value(idle, "todo_api_db_pool_waiting")) == (
        0,
        0,
    )
    assert value(held, "todo_api_db_pool_waiting") == 0
    assert value(waiting, "todo_api_db_pool_in_use") == 1
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert value(after, "todo_api_db_errors_total", kind="timeout") == 1
    assert value(after, "todo_api_db_errors_total", kind="unavailable") == 0
    assert (value(after, "todo_api_db_pool_in_use"), value(after, "todo_api_db_pool_waiting")) == (
        0,
        0,
    )


async def test_the_pool_size_counts_while_the_app_runs(app_database_url: str) -> None:
    app = create_app(make_settings(app_database_url, db_pool_size=4))
    async with serving(app) as client:
        running = await scrape(client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        stopped = await scrape(client)

    assert value(running, "todo_api_db_pool_size") == 4
    assert value(stopped, "todo_api_db_pool_size") == 0


async def test_with_metrics_off_nothing_is_served_and_the_api_still_works(
    app_database_url: str,
) -> None:
    async with serving(
        create_app(make_settings(app_database_url, metrics_enabled=False))
    ) as client:
        ready = await client.get("/health/ready")
        metrics = await client.get("/metrics")

    assert ready.status_code == 200
    assert_error(metrics, 404, "NOT_FOUND")


# --- Several worker processes --------------------------------------------------------------

WORKERS = 2
POOL_SIZE = 3
REQUESTS = 60
READY_ROUTE = "/health/ready"


def _until(condition: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _scrape(base_url: str) -> str:
    """One scrape on a connection of its own, so any worker may answer it."""
    response = httpx.get(f"{base_url}/metrics", headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return response.text


def _live_workers(directory: Path) -> set[int]:
    """The workers whose pool gauges count now: one live-gauge file each."""
    return {int(path.stem.rpartition("_")[2]) for path in directory.glob("gauge_livesum_*.db")}


def _requests_answered_by(directory: Path, pid: int, route: str) -> float:
    """What one worker counted, read from its own file rather than through /metrics."""
    own_file = [str(directory / f"counter_{pid}.db")]
    metrics = MultiProcessCollector.merge(own_file)  # type: ignore[no-untyped-call]  # unannotated upstream
    [requests] = [metric for metric in metrics if metric.name == "todo_api_http_requests"]
    return float(sum(s.value for s in requests.samples if s.labels["route"] == route))


def test_with_two_workers_every_scrape_sums_the_counts_of_both(
    app_server_settings: dict[str, str], tmp_path: Path
) -> None:
    """`todo-api serve` with WEB_CONCURRENCY=2 on the test database: requests on new
    connections reach both workers, and whichever worker answers a scrape reports the sum.
    A worker killed with SIGKILL keeps its counts, and its pool stops counting once the
    supervisor has replaced it. The metrics directory (under TMPDIR) goes at exit."""
    env = command_env(
        **app_server_settings,
        WEB_CONCURRENCY=str(WORKERS),
        DB_POOL_SIZE=str(POOL_SIZE),
        LOG_LEVEL="WARNING",
        TMPDIR=str(tmp_path),
    )
    with ApiProcess("serve", env, tmp_path) as api:
        api.wait_until_live()
        base_url = api.base_url
        _until(lambda: value(_scrape(base_url), "todo_api_db_pool_size") == WORKERS * POOL_SIZE)
        [directory] = tmp_path.glob("todo-api-metrics-*")
        workers = _live_workers(directory)

        def get_ready(_: int) -> int:
            return httpx.get(
                f"{base_url}{READY_ROUTE}", headers={"Connection": "close"}
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as threads:
            statuses = list(threads.map(get_ready, range(REQUESTS)))
        per_worker = {pid: _requests_answered_by(directory, pid, READY_ROUTE) for pid in workers}
        scrapes = [_scrape(base_url) for _ in range(10)]

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        _until(
            lambda: (
                victim not in _live_workers(directory)
                and len(_live_workers(directory)) == WORKERS
                and value(_scrape(base_url), "todo_api_db_pool_size") == WORKERS * POOL_SIZE
            )
        )
        after_kill = _scrape(base_url)
        assert api.stop() in {0, 128 + signal.SIGTERM}, api.output

    assert statuses == [200] * REQUESTS
    assert len(workers) == WORKERS
    assert all(count > 0 for count in per_worker.values()), per_worker
    assert sum(per_worker.values()) == REQUESTS
    for text in scrapes:
        assert value(text, "todo_api_http_requests_total", route=READY_ROUTE) == REQUESTS
        labels = {"method": "GET", "route": READY_ROUTE, "status": "200"}
        assert value(text, "todo_api_http_request_duration_seconds_count", **labels) == REQUESTS
        assert value(text, "todo_api_build_info", version=__version__) == 1
        assert value(text, "todo_api_db_pool_in_use") == 0
    assert value(after_kill, "todo_api_http_requests_total", route=READY_ROUTE) == REQUESTS
    assert not directory.exists()
