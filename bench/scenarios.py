"""The order of the runs, and the servers each phase needs.

API and reference run side by side and are measured alternately, endpoint by endpoint,
so slow drift (a growing table, a busy neighbour, thermal throttling) hits both about
equally. Each phase starts its servers fresh and stops them on the way out, errors and
Ctrl-C included.
"""

import asyncio
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench.config import BIG_USER, DEEP_PAGE, PAGE_SIZE, Config
from bench.database import BenchDatabase
from bench.pages import PagingFailed, walk_to_page
from bench.results import Results
from bench.rss import RssMonitor
from bench.seed import SeedFiles, disposable_todos
from bench.servers import Server, start_api, start_reference
from bench.wrk import WrkResult, measure

Log = Callable[[str], None]

# Shared endpoints: the script and which seed file it draws from.
_SCRIPTS = {"get_one": "get_one.lua", "list50": "list.lua", "create": "create.lua"}
# DELETE's disposable todos: this many times the expected number of requests.
_DELETE_HEADROOM = 2
_POOL_SMALL = {"DB_POOL_SIZE": "8"}


def _args(files: SeedFiles, key: str) -> tuple[Path, ...]:
    return (files.todos,) if key == "get_one" else (files.users,)


def _measure(
    config: Config,
    results: Results,
    log: Log,
    key: str,
    server: Server,
    *,
    script: str,
    args: tuple[str | Path, ...] = (),
    warmup_args: tuple[str | Path, ...] | None = None,
    connections: int | None = None,
    path: str = "",
) -> WrkResult:
    log(f"{key} on {server.name}")
    result = measure(
        config,
        key,
        script=script,
        url=server.url + path,
        args=args,
        warmup_args=warmup_args,
        connections=connections,
    )
    results.runs[key] = result
    log(f"  {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms, {result.errors} errors")
    return result


def _shared(
    config: Config,
    results: Results,
    log: Log,
    files: SeedFiles,
    pair: tuple[tuple[str, Server], tuple[str, Server]],
) -> None:
    for endpoint, script in _SCRIPTS.items():
        for prefix, server in pair:
            _measure(
                config,
                results,
                log,
                f"{prefix}.{endpoint}",
                server,
                script=script,
                args=_args(files, endpoint),
            )


def _disposable(config: Config, dsn: str, rate: float, seconds: int, name: str) -> Path:
    path = config.path(name)
    count = math.ceil(rate * seconds * _DELETE_HEADROOM) + 1000
    asyncio.run(disposable_todos(dsn, count, path))
    return path


def _writes(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles, api: Server
) -> None:
    patch = _measure(
        config, results, log, "api.patch", api, script="patch.lua", args=(files.todos,)
    )
    # A DELETE costs about what a GET or a PATCH does; the faster of the two, with headroom,
    # sizes the disposable todos so that wrk does not run out of ids.
    get_one = results.run("api.get_one")
    rate = max(patch.rps, get_one.rps if get_one else 0.0, 500.0)
    measured = _disposable(config, db.dsn, rate, config.duration, "delete.txt")
    warmup = _disposable(config, db.dsn, rate, max(config.warmup, 1), "delete.warmup.txt")
    threads = str(min(config.threads, config.connections))
    delete = _measure(
        config,
        results,
        log,
        "api.delete",
        api,
        script="delete.lua",
        args=(measured, threads),
        warmup_args=(warmup, threads),
    )
    available = len(measured.read_text().splitlines())
    if delete.requests > available:
        results.notes.append(
            f"DELETE sent {delete.requests} requests for {available} disposable todos; "
            "the repeats answered 404 and count as errors."
        )
    _measure(
        config,
        results,
        log,
        "api.mix",
        api,
        script="mix.lua",
        args=(files.users, files.todos),
    )


def _long_list(config: Config, results: Results, log: Log, api: Server, ref: Server) -> None:
    few = config.few_connections
    first = f"/api/v1/users/{BIG_USER}/todos?limit={PAGE_SIZE}"
    _measure(
        config, results, log, "big.page1", api, script="fixed.lua", connections=few, path=first
    )
    log(f"walking next_cursor to page {DEEP_PAGE:,} of {BIG_USER}")
    started = time.monotonic()
    try:
        deep = walk_to_page(api.url, first, DEEP_PAGE, PAGE_SIZE)
    except PagingFailed as error:
        # A broken list must not cost the rest of the report; it shows as "not run".
        results.notes.append(f"Page {DEEP_PAGE:,} was not measured: {error}")
        log(f"  {error}")
    else:
        results.walk_seconds = time.monotonic() - started
        _measure(
            config,
            results,
            log,
            "big.page1000",
            api,
            script="fixed.lua",
            connections=few,
            path=deep,
        )
    for key, server in (("big.count_api", api), ("big.count_ref", ref)):
        _measure(config, results, log, key, server, script="fixed.lua", connections=1, path=first)


def single_worker(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """Everything at one worker each, the API with its default settings."""
    with ExitStack() as stack:
        api = stack.enter_context(start_api(config, "api", db.api_url))
        ref = stack.enter_context(start_reference(config, "reference", db.dsn))
        monitor = stack.enter_context(RssMonitor(api))
        _shared(config, results, log, files, (("api", api), ("ref", ref)))
        _writes(config, results, log, db, files, api)
        _long_list(config, results, log, api, ref)
    results.rss["1 worker, default settings"] = monitor.peak


def small_pool(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """GET one with fewer pooled connections than wrk has clients."""
    settings = " ".join(f"{k}={v}" for k, v in _POOL_SMALL.items())
    with (
        start_api(config, "api-pool8", db.api_url, settings=_POOL_SMALL) as api,
        RssMonitor(api) as monitor,
    ):
        _measure(
            config,
            results,
            log,
            "api_pool8.get_one",
            api,
            script="get_one.lua",
            args=(files.todos,),
        )
    results.rss[f"1 worker, {settings}"] = monitor.peak


def two_workers(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """WEB_CONCURRENCY=2 against the reference under `uvicorn --workers 2`."""
    with ExitStack() as stack:
        api = stack.enter_context(start_api(config, "api-2workers", db.api_url, workers=2))
        ref = stack.enter_context(start_reference(config, "reference-2workers", db.dsn, workers=2))
        monitor = stack.enter_context(RssMonitor(api))
        _shared(config, results, log, files, (("api2", api), ("ref2", ref)))
    results.rss["2 workers (WEB_CONCURRENCY=2)"] = monitor.peak


def run_count() -> int:
    """Measured runs in `make bench`, for the time estimate: 3 shared endpoints x 2 servers,
    PATCH, DELETE and mix, 4 on the long list, 1 with the small pool, 3 x 2 at 2 workers."""
    return 6 + 3 + 4 + 1 + 6
