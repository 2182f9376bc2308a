"""The order of the runs, and the servers each phase needs.

API and reference run side by side and are measured alternately, endpoint by endpoint,
and within an endpoint repeat by repeat (api, ref, api, ref, ...), so slow drift (a
growing table, a busy neighbour, thermal throttling) hits both about equally. Each
measurement is warmed up once, before its first repeat. Each phase starts its servers
fresh and stops them on the way out, errors and Ctrl-C included.
"""

import asyncio
import dataclasses
import math
import secrets
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import features
from bench.config import (
    BIG_USER,
    BULK_SIZE,
    DEEP_PAGE,
    FILTERED_QUERY,
    GROWTH_SEED_ROWS_PER_SECOND,
    PAGE_SIZE,
    Config,
)
from bench.database import BenchDatabase
from bench.growth import GROWTH_DATABASE, GrowthSeeder, growth_database, seed_estimate
from bench.pages import PagingFailed, walk_to_page
from bench.reference.sql import USER_SORTS
from bench.results import SETTINGS_PAIRS, Results, settings_keys, sort_name
from bench.rss import RssMonitor
from bench.sanity import check_bodies, check_get_one
from bench.seed import SeedFiles, disposable_todos
from bench.servers import (
    FASTAPI_FLOOR_APP,
    Server,
    ServerFailed,
    migrate,
    start_api,
    start_granian,
    start_reference,
)
from bench.wrk import Load, WrkResult, measure, run_together

Log = Callable[[str], None]

# Shared endpoints: the script (the arguments it takes are in `_args`). With one worker
# each, also the filtered and sorted list, the bulk create, a list in position order and
# a move; the moves come after the listing in position order, which sees the lists as
# seeded.
_SCRIPTS = {"get_one": "get_one.lua", "list50": "list.lua", "create": "create.lua"}
_SINGLE_SCRIPTS = {
    "get_one": "get_one.lua",
    "list50": "list.lua",
    "list_filtered": "list.lua",
    "create": "create.lua",
    "bulk": "bulk.lua",
    "list_position": "list_position.lua",
    "move": "move.lua",
}
# With one worker each, after those: conditional requests, Idempotency-Keys and the
# change feed, API and reference alike (`_features`), each measured after the files it
# needs are made from the servers' current answers.
FEATURES = ("conditional_get", "idempotent_create", "idempotent_replay", "changes_empty")
# DELETE's disposable todos: this many times the expected number of requests, expected
# from the fastest run so far of these (a DELETE costs about what a GET one or a PATCH
# does), on either server.
_DELETE_HEADROOM = 2
_DELETE_SIZED_BY = tuple(
    f"{server}.{request}" for request in ("delete", "patch", "get_one") for server in ("api", "ref")
)
_POOL_SMALL = {"DB_POOL_SIZE": "8"}
# The same API with one setting changed, against itself at the defaults (`settings_pairs`).
_METRICS_OFF = {"METRICS_ENABLED": "false"}
_OTHER_SORTS = tuple(sort for sort in USER_SORTS if sort != "-created_at")
SORT_MEASUREMENTS = 2 * len(_OTHER_SORTS)
# Every scenario `--only` can name, and its measurements (keys of Results.runs), for the
# time estimate: the shared endpoints, PATCH and DELETE one each for API and reference;
# mix one (API only); 6 on the long list (page 1 and page 1,000, the list with its count and the
# stats, API and reference); the other sorts' pages (`SORT_MEASUREMENTS`, BENCH_SORT_REPEATS
# runs of BENCH_SORT_DURATION each, unwarmed, counted apart); 1 with the small pool; 3 x 2
# at two workers; JWT auth on and metrics off one each, plus the defaults they are
# compared with and the control (counted once, in `measurement_count`). GET one also runs
# on the FastAPI floor (bench/reference/fastapi_floor.py).
SCENARIOS: dict[str, int] = {
    **dict.fromkeys(_SINGLE_SCRIPTS, 2),
    "get_one": 3,  # the FastAPI floor too
    **dict.fromkeys(FEATURES, 2),
    "patch": 2,
    "delete": 2,
    "mix": 1,
    "long_list": 6,
    "sorts": 0,
    "pool8": 1,
    "two_workers": 6,
    "jwt": 0,  # GET one with JWT auth on, counted apart (`settings_measurement_count`)
    "metrics": 0,  # GET one with metrics off, likewise
    "serving": 15,  # SERVING_SERVERS x _SCRIPTS; only when named
    "growth": 0,  # per size: GROWTH_MEASUREMENTS, counted apart (`growth_measurement_count`)
}
# At each size of the growth phase: GET one, and page 1 and page 1,000 in every sort.
GROWTH_MEASUREMENTS = 1 + 2 * len(USER_SORTS)
_SETTINGS_PAIRS = ("jwt", "metrics")


@dataclass(frozen=True, slots=True)
class _Run:
    """One measurement: the key its repeats are kept under, and what wrk runs for it."""

    key: str
    server: Server
    script: str
    args: tuple[str | Path, ...] = ()
    connections: int | None = None
    path: str = ""
    # False: no warm-up even before the first repeat (something else just warmed it).
    warm_up: bool = True
    seconds: int | None = None  # None: BENCH_DURATION
    # The status every answer should have; any other is noted (a 200 for a 304 is no
    # error to wrk, but it is not the request the run means to measure).
    expect: str | None = None


def _args(files: SeedFiles, key: str) -> tuple[str | Path, ...]:
    if key == "get_one":
        return (files.todos,)
    if key == "list_filtered":
        return (files.users, FILTERED_QUERY)
    if key == "bulk":
        return (files.bulk_users, str(BULK_SIZE))
    if key in {"list_position", "move"}:
        return (files.lists,)
    return (files.users,)


def _still_running(server: Server, during: str) -> None:
    """ServerFailed, with its exit status, if `server` is gone: every later number would
    be connection errors. A negative status is the signal that ended it (-9: SIGKILL, from
    the kernel's out-of-memory killer or another process; -11: a crash)."""
    status = server.running.process.poll()
    if status is not None:
        raise ServerFailed(
            f"{server.name} exited with status {status} during {during}; "
            f"its log: {server.running.log_path}"
        )


def _measure(
    config: Config,
    results: Results,
    log: Log,
    run: _Run,
    repeat: int,
    *,
    warmup_args: tuple[str | Path, ...] | None = None,
    repeats: int | None = None,
    warm_up: bool | None = None,
) -> WrkResult:
    """Repeat `repeat` (from 0) of `run`, of `repeats` (BENCH_REPEATS unless given). Only
    the first is warmed up, unless `warm_up` says otherwise: the later ones find the
    server warm, and warming it again would only make the bench longer."""
    repeats = repeats or config.repeats
    of = f" ({repeat + 1}/{repeats})" if repeats > 1 else ""
    log(f"{run.key} on {run.server.name}{of}")
    try:
        result = measure(
            config,
            f"{run.key}.{repeat + 1}",
            script=run.script,
            url=run.server.url + run.path,
            args=run.args,
            warmup_args=warmup_args,
            connections=run.connections,
            warm_up=run.warm_up and repeat == 0 if warm_up is None else warm_up,
            seconds=run.seconds,
            server_pids=tuple(run.server.worker_pids()),
        )
    finally:
        _still_running(run.server, run.key)
    _record(results, run.key, result, repeat, expect=run.expect)
    log(f"  {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms, {result.errors} errors")
    return result


def _record(
    results: Results, key: str, result: WrkResult, repeat: int, *, expect: str | None
) -> None:
    """Keep repeat `repeat` of `key`, with a note of any answers but the `expect`ed."""
    results.add(key, result)
    unexpected = {code: n for code, n in result.statuses.items() if code != expect}
    if expect is not None and unexpected:
        results.notes.append(
            f"`{key}` run {repeat + 1}: answers other than {expect}: "
            + ", ".join(f"{code}: {n:,}" for code, n in unexpected.items())
            + f" of {result.requests:,}."
        )


def _alternate(
    config: Config, results: Results, log: Log, *runs: _Run, repeats: int | None = None
) -> None:
    """Every repeat of `runs` (BENCH_REPEATS unless `repeats`), taking turns, so that
    drift during the repeats hits each of them alike and repeat i of one can be paired with
    repeat i of the other. The order turns round at every repeat (a, b, b, a, a, b): with
    a fixed order the run that always came first measured up to 12% faster than the same
    server measured second, which is more than some targets' margins."""
    for repeat in range(repeats or config.repeats):
        for run in runs if repeat % 2 == 0 else reversed(runs):
            _measure(config, results, log, run, repeat, repeats=repeats)


def _shared(
    config: Config,
    results: Results,
    log: Log,
    files: SeedFiles,
    pair: tuple[tuple[str, Server], tuple[str, Server]],
    scripts: dict[str, str],
    floor: Server | None = None,
) -> None:
    """Each endpoint of `scripts` on both servers of `pair`, taking turns; GET one also on
    `floor` (the FastAPI floor) when given."""
    for endpoint, script in scripts.items():
        if not config.selected(endpoint):
            continue
        servers = [*pair, *((("floor", floor),) if floor and endpoint == "get_one" else ())]
        runs = [
            _Run(f"{prefix}.{endpoint}", server, script, _args(files, endpoint))
            for prefix, server in servers
        ]
        _alternate(config, results, log, *runs)


def _features(
    config: Config, results: Results, log: Log, files: SeedFiles, api: Server, ref: Server
) -> None:
    """The scenarios of FEATURES that are selected, API and reference taking turns."""
    pair = (("api", api), ("ref", ref))
    if config.selected("conditional_get"):
        # The ETags as they are now (the moves above changed some todos' updated_at).
        etags = features.etags(api.url, files, config.path("etags.txt"))
        runs = [
            _Run(f"{name}.conditional_get", server, "get_one_header.lua", (etags, "If-None-Match"))
            for name, server in pair
        ]
        _alternate(config, results, log, *(_expect(run, "304") for run in runs))
    if config.selected("idempotent_create"):
        runs = [
            _Run(f"{name}.idempotent_create", server, "create_keyed.lua", (files.users, name))
            for name, server in pair
        ]
        _alternate(config, results, log, *(_expect(run, "201") for run in runs))
    if config.selected("idempotent_replay"):
        runs = []
        for name, server in pair:
            keys = features.replay_keys(server.url, name, files, config.path(f"replay.{name}.txt"))
            runs.append(_Run(f"{name}.idempotent_replay", server, "create_replay.lua", (keys,)))
        _alternate(config, results, log, *(_expect(run, "201") for run in runs))
    if config.selected("changes_empty"):
        # Taken now, after every write before, so nothing changes after them.
        tokens = features.feed_tokens(api.url, files, config.path("changes.txt"))
        runs = [
            _Run(f"{name}.changes_empty", server, "changes.lua", (tokens,)) for name, server in pair
        ]
        _alternate(config, results, log, *(_expect(run, "200") for run in runs))


def _expect(run: _Run, status: str) -> _Run:
    return _Run(run.key, run.server, run.script, run.args, expect=status)


def _disposable(config: Config, dsn: str, rate: float, seconds: int, name: str) -> Path:
    path = config.path(name)
    count = math.ceil(rate * seconds * _DELETE_HEADROOM) + 1000
    asyncio.run(disposable_todos(dsn, count, path))
    return path


def _delete(
    config: Config, results: Results, log: Log, db: BenchDatabase, api: Server, ref: Server
) -> None:
    """DELETE, API and reference taking turns run by run in `_alternate`'s order, each run
    on disposable todos of its own, inserted just before it: a todo is deleted once, so a
    run reusing another's (the previous repeat's, or the other server's) would measure
    404s."""
    threads = str(min(config.threads, config.connections))
    pair = (("api", api), ("ref", ref))
    for repeat in range(config.repeats):
        for name, server in pair if repeat % 2 == 0 else reversed(pair):
            # The fastest run so far, with headroom, sizes the disposable todos so that wrk
            # does not run out of ids.
            measured_rps = [run.rps for key in _DELETE_SIZED_BY for run in results.repeats(key)]
            rate = max([*measured_rps, 500.0])
            measured = _disposable(config, db.dsn, rate, config.duration, f"delete.{name}.txt")
            warmup_args = None
            if repeat == 0 and config.warmup:
                warmup = _disposable(
                    config, db.dsn, rate, config.warmup, f"delete.{name}.warmup.txt"
                )
                warmup_args = (warmup, threads)
            run = _Run(f"{name}.delete", server, "delete.lua", (measured, threads), expect="204")
            delete = _measure(config, results, log, run, repeat, warmup_args=warmup_args)
            available = len(measured.read_text().splitlines())
            if delete.requests > available:
                results.notes.append(
                    f"`{run.key}` run {repeat + 1} sent {delete.requests} requests for "
                    f"{available} disposable todos; the ids sent a second time answered 404 "
                    "and count as errors."
                )


def _writes(
    config: Config,
    results: Results,
    log: Log,
    db: BenchDatabase,
    files: SeedFiles,
    api: Server,
    ref: Server,
) -> None:
    """PATCH and DELETE, API and reference taking turns; then the mix, on the API only."""
    if config.selected("patch"):
        runs = [
            _Run(f"{name}.patch", server, "patch.lua", (files.todos,), expect="200")
            for name, server in (("api", api), ("ref", ref))
        ]
        _alternate(config, results, log, *runs)
    if config.selected("delete"):
        _delete(config, results, log, db, api, ref)
    if config.selected("mix"):
        mix = _Run("api.mix", api, "mix.lua", (files.users, files.todos))
        _alternate(config, results, log, mix)


def _walk(
    results: Results, log: Log, api: Server, first: str, sort: str, *, store: bool = True
) -> str | None:
    """Page 1,000's path in `sort`, found by following next_cursor from `first`; None (and
    a note) when the listing breaks before it."""
    log(f"walking next_cursor to page {DEEP_PAGE:,} of {BIG_USER}, sort={sort}")
    started = time.monotonic()
    try:
        deep = walk_to_page(api.url, first, DEEP_PAGE, PAGE_SIZE)
    except PagingFailed as error:
        _still_running(api, f"the walk in sort={sort} ({error})")
        # A broken list must not cost the rest of the report; it shows as "not run".
        results.notes.append(f"Page {DEEP_PAGE:,} in sort={sort} was not measured: {error}")
        log(f"  {error}")
        return None
    if store:
        results.walks[sort] = time.monotonic() - started
    return deep


def _long_list(config: Config, results: Results, log: Log, api: Server, ref: Server) -> None:
    if config.selected("long_list"):
        _big_user(config, results, log, api, ref)
    if config.selected("sorts"):
        _other_sorts(config, results, log, api)


def _big_user(config: Config, results: Results, log: Log, api: Server, ref: Server) -> None:
    few = config.few_connections
    base = f"/api/v1/users/{BIG_USER}/todos"
    first = f"{base}?limit={PAGE_SIZE}"
    page1 = _Run("big.page1", api, "fixed.lua", connections=few, path=first)
    # The walk comes first so that page 1 and page 1,000 can take turns like API and
    # reference do: their ratio is a target.
    deep = _walk(results, log, api, first, "-created_at")
    if deep is None:
        _alternate(config, results, log, page1)
    else:
        page1000 = _Run("big.page1000", api, "fixed.lua", connections=few, path=deep)
        _alternate(config, results, log, page1, page1000)
    count_api = _Run("big.count_api", api, "fixed.lua", connections=1, path=first)
    count_ref = _Run("big.count_ref", ref, "fixed.lua", connections=1, path=first)
    _alternate(config, results, log, count_api, count_ref)
    stats_api = _Run("big.stats_api", api, "fixed.lua", connections=1, path=f"{base}/stats")
    stats_ref = _Run("big.stats_ref", ref, "fixed.lua", connections=1, path=f"{base}/stats")
    _alternate(config, results, log, stats_api, stats_ref)


def _other_sorts(config: Config, results: Results, log: Log, api: Server) -> None:
    """Page 1 and page 1,000 in every sort but the default (measured above), fewer and
    shorter runs than the rest: the walk to page 1,000 (1,000 requests of both statement
    variants over the pages measured) has just warmed them, so there is no warm-up."""
    few = config.few_connections
    for sort in _OTHER_SORTS:
        first = f"/api/v1/users/{BIG_USER}/todos?limit={PAGE_SIZE}&sort={sort}"
        deep = _walk(results, log, api, first, sort)
        pages = [("page1", first)] if deep is None else [("page1", first), ("page1000", deep)]
        runs = [
            _Run(
                f"{sort_name(sort)}.{page}",
                api,
                "fixed.lua",
                connections=few,
                path=path,
                warm_up=False,
                seconds=config.sort_duration,
            )
            for page, path in pages
        ]
        _alternate(config, results, log, *runs, repeats=config.sort_repeats)


def single_worker(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """Everything at one worker each, the API with its default settings."""
    phase = (*_SINGLE_SCRIPTS, *FEATURES, "patch", "delete", "mix", "long_list", "sorts")
    if not any(config.selected(name) for name in phase):
        return
    with ExitStack() as stack:
        api = stack.enter_context(start_api(config, "api", db.api_url))
        ref = stack.enter_context(start_reference(config, "reference", db.dsn))
        floor = None
        if config.selected("get_one"):
            floor = stack.enter_context(
                start_reference(config, "fastapi-floor", db.dsn, app=FASTAPI_FLOOR_APP)
            )
        monitor = stack.enter_context(RssMonitor(api))
        compared = check_bodies(api.url, ref.url, files)
        log(f"API and reference answered {compared} requests with the same bytes")
        if floor is not None:
            compared = check_get_one(api.url, floor.url, files)
            log(f"API and FastAPI floor answered {compared} GET one requests with the same bytes")
        pair = (("api", api), ("ref", ref))
        _shared(config, results, log, files, pair, _SINGLE_SCRIPTS, floor)
        _features(config, results, log, files, api, ref)
        _writes(config, results, log, db, files, api, ref)
        _long_list(config, results, log, api, ref)
    results.rss["1 worker, default settings"] = monitor.peak


def small_pool(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """GET one with fewer pooled connections than wrk has clients."""
    if not config.selected("pool8"):
        return
    settings = " ".join(f"{k}={v}" for k, v in _POOL_SMALL.items())
    with (
        start_api(config, "api-pool8", db.api_url, settings=_POOL_SMALL) as api,
        RssMonitor(api) as monitor,
    ):
        run = _Run("api_pool8.get_one", api, "get_one.lua", (files.todos,))
        _alternate(config, results, log, run)
    results.rss[f"1 worker, {settings}"] = monitor.peak


def two_workers(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """WEB_CONCURRENCY=2 against the reference under `uvicorn --workers 2`."""
    if not config.selected("two_workers"):
        return
    with ExitStack() as stack:
        api = stack.enter_context(start_api(config, "api-2workers", db.api_url, workers=2))
        ref = stack.enter_context(start_reference(config, "reference-2workers", db.dsn, workers=2))
        monitor = stack.enter_context(RssMonitor(api))
        pair = (("api2", api), ("ref2", ref))
        for endpoint, script in _SCRIPTS.items():
            runs = (
                _Run(f"{prefix}.{endpoint}", server, script, _args(files, endpoint))
                for prefix, server in pair
            )
            _alternate(config, results, log, *runs)
    results.rss["2 workers (WEB_CONCURRENCY=2)"] = monitor.peak


def settings_pairs(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """GET one on the API with one setting changed, loaded at the same moments as the API
    at its defaults: JWT auth on (AUTH_JWT_SECRET, each request with a valid token of its
    user), metrics off (METRICS_ENABLED=false), and nothing changed (the control).

    Taking turns was not enough here. On this kind of machine the same server's req/s
    drifted by up to 15% from one 10-second run to the next, and two servers of the same
    code and settings kept for a phase measured up to 29% apart, so a 5% bound was
    decided by the noise. Now both servers of a pair take half the connections each, at
    once, and every repeat starts them afresh; the pairs take turns, in an order that
    turns round from one repeat to the next."""
    jwt_on, metrics_off = config.selected("jwt"), config.selected("metrics")
    if not (jwt_on or metrics_off):
        return
    # A new secret each bench; the tokens are made for it, one per user.
    auth = {"AUTH_JWT_SECRET": secrets.token_urlsafe(48)}
    tokens = features.jwt_tokens(auth["AUTH_JWT_SECRET"], files, config.path("jwt.txt"))
    plain: tuple[str, tuple[str | Path, ...]] = ("get_one.lua", (files.todos,))
    bearer: tuple[str, tuple[str | Path, ...]] = (
        "get_one_header.lua",
        (tokens, "Authorization", "Bearer "),
    )
    changes = {"opt_jwt": (auth, bearer), "opt_nometrics": (_METRICS_OFF, plain)}
    wanted = {"opt_jwt": jwt_on, "opt_nometrics": metrics_off, "opt_control": True}
    prefixes = [prefix for prefix, _label, _on in SETTINGS_PAIRS if wanted[prefix]]
    for repeat in range(config.settings_repeats):
        for prefix in prefixes if repeat % 2 == 0 else prefixes[::-1]:
            settings, (script, args) = changes.get(prefix, ({}, plain))
            name = prefix.removeprefix("opt_")
            with (
                start_api(config, f"api-{name}", db.api_url, settings=settings) as changed,
                start_api(config, f"api-{name}-base", db.api_url) as base,
            ):
                if prefix == "opt_jwt":
                    features.check_jwt(changed.url, tokens)
                keys = settings_keys(prefix)
                loads = (
                    Load(keys[0], script, changed.url, args, tuple(changed.worker_pids())),
                    Load(keys[1], plain[0], base.url, plain[1], tuple(base.worker_pids())),
                )
                log(f"{keys[0]} and {keys[1]} at once ({repeat + 1}/{config.settings_repeats})")
                _measure_together(config, results, log, loads, repeat)


def _measure_together(
    config: Config, results: Results, log: Log, loads: tuple[Load, ...], repeat: int
) -> None:
    """Repeat `repeat` of `loads` at once, after a warm-up at once; each load gets half of
    BENCH_CONNECTIONS (two loads: as many connections in all as any other run)."""
    connections = max(1, config.connections // len(loads))

    def named(suffix: str) -> tuple[Load, ...]:
        return tuple(dataclasses.replace(load, name=f"{load.name}.{suffix}") for load in loads)

    if config.warmup:
        run_together(
            config, named(f"{repeat + 1}.warmup"), connections=connections, seconds=config.warmup
        )
    measured = run_together(
        config, named(str(repeat + 1)), connections=connections, seconds=config.duration
    )
    for load, result in zip(loads, measured, strict=True):
        _record(results, load.name, result, repeat, expect="200")
        p99, errors = result.p99_ms, result.errors
        log(f"  {load.name}: {result.rps:,.0f} req/s, p99 {p99:.1f} ms, {errors} errors")


# The `serving` phase's servers, by the prefix of their keys: the reference at one worker,
# then the API under each server and worker count (decision 0020).
SERVING_SERVERS = {
    "serve_ref": "reference, uvicorn, 1 worker",
    "serve_uv1": "API, uvicorn, 1 worker (the default)",
    "serve_uv2": "API, uvicorn, 2 workers",
    "serve_gr1": "API, granian, 1 worker",
    "serve_gr2": "API, granian, 2 workers",
}


def serving(
    config: Config, results: Results, log: Log, db: BenchDatabase, files: SeedFiles
) -> None:
    """GET one, list 50 and create on the API under uvicorn and granian, at one and two
    workers, against the reference at one worker: all five up at once, taking turns run by
    run (ref, uv1, uv2, gr1, gr2, ref, ...), endpoint by endpoint, so that drift and the
    growing table hit each alike."""
    if not config.selected("serving"):
        return
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        starts: tuple[tuple[str, Callable[[], Server]], ...] = (
            ("serve_ref", lambda: start_reference(config, "serve-reference", db.dsn)),
            ("serve_uv1", lambda: start_api(config, "serve-uvicorn-1", db.api_url)),
            ("serve_uv2", lambda: start_api(config, "serve-uvicorn-2", db.api_url, workers=2)),
            ("serve_gr1", lambda: start_granian(config, "serve-granian-1", db.api_url)),
            ("serve_gr2", lambda: start_granian(config, "serve-granian-2", db.api_url, workers=2)),
        )
        for name, start in starts:
            servers[name] = stack.enter_context(start())
            log(f"{SERVING_SERVERS[name]}: workers {servers[name].worker_pids()}")
        monitors = {
            name: stack.enter_context(RssMonitor(server))
            for name, server in servers.items()
            if name != "serve_ref"
        }
        for endpoint, script in _SCRIPTS.items():
            runs = (
                _Run(f"{prefix}.{endpoint}", server, script, _args(files, endpoint))
                for prefix, server in servers.items()
            )
            _alternate(config, results, log, *runs)
    for name, monitor in monitors.items():
        results.rss[f"serving: {SERVING_SERVERS[name]}"] = monitor.peak


def growth_key(size: int, request: str) -> str:
    """`growth.100000.get_one`, `growth.100000.sort.due_at_asc.page1000`, ..."""
    return f"growth.{size}.{request}"


def growth(
    config: Config, results: Results, log: Log, db: BenchDatabase, _files: SeedFiles
) -> None:
    """The same requests as the table grows (bench/growth.py): at each size of
    BENCH_GROWTH_SIZES, GET one of a random todo of the whole table at 64 connections, and
    BIG_USER's page 1 and page 1,000 in every sort at 4, on the API only, each measurement
    warmed up and then BENCH_SORT_REPEATS runs of BENCH_SORT_DURATION. Page 1,000's paths
    are found once, at the smallest size, by following next_cursor: BIG_USER's todos do not
    change as the table grows, so the same cursor is the same position at every size."""
    if not config.selected("growth"):
        return
    if not db.embedded:
        results.notes.append(
            "The growth phase was not run: it needs a database of its own, which the bench "
            "creates only on its embedded PostgreSQL (not with BENCH_DATABASE_URL)."
        )
        return
    few = config.few_connections
    base = f"/api/v1/users/{BIG_USER}/todos?limit={PAGE_SIZE}"
    deep: dict[str, str | None] = {}
    with growth_database(db) as grown:
        log(f"growth: database {GROWTH_DATABASE}; todo-api migrate")
        migrate(config, grown.api_url)
        seeder = GrowthSeeder(grown.dsn)
        started = time.monotonic()
        asyncio.run(seeder.start())
        log(f"growth: {BIG_USER} seeded by COPY in {time.monotonic() - started:.1f} s")
        for size in config.growth_sizes:
            log(f"growth: COPY up to {size:,} todos of ordinary users")
            sample = config.path(f"growth.{size}.todos.txt")
            step = asyncio.run(seeder.grow_to(size))
            seeder.write_sample(sample)
            results.growth_seed.append(step)
            log(
                f"  {step.rows:,} rows in {step.copy_seconds:.1f} s ({step.rows_per_second:,.0f} "
                f"rows/s), VACUUM (ANALYZE) {step.vacuum_seconds:.1f} s"
            )
            with start_api(config, f"api-growth-{size}", grown.api_url) as api:
                if not deep:
                    for sort in USER_SORTS:
                        deep[sort] = _walk(
                            results, log, api, f"{base}&sort={sort}", sort, store=False
                        )
                get_one = _Run(
                    growth_key(size, "get_one"),
                    api,
                    "get_one.lua",
                    (sample,),
                    seconds=config.sort_duration,
                    expect="200",
                )
                _alternate(config, results, log, get_one, repeats=config.sort_repeats)
                for sort in USER_SORTS:
                    pages = [("page1", f"{base}&sort={sort}"), ("page1000", deep[sort])]
                    runs = [
                        _Run(
                            growth_key(size, f"{sort_name(sort)}.{page}"),
                            api,
                            "fixed.lua",
                            connections=few,
                            path=path,
                            seconds=config.sort_duration,
                            expect="200",
                        )
                        for page, path in pages
                        if path is not None
                    ]
                    _alternate(config, results, log, *runs, repeats=config.sort_repeats)
        if max(config.growth_sizes) < GROWTH_PROJECTED:
            estimate = seed_estimate(results.growth_seed, GROWTH_PROJECTED)
            if estimate is not None:
                log(
                    f"growth: seeding {GROWTH_PROJECTED:,} todos this way would take about "
                    f"{estimate / 60:.0f} min (at this run's largest step's rate)"
                )


# The largest size the seeding time is projected to when a run stops short of it.
GROWTH_PROJECTED = 10_000_000


def growth_measurement_count(config: Config) -> int:
    return GROWTH_MEASUREMENTS * len(config.growth_sizes) if config.selected("growth") else 0


def growth_seed_seconds(config: Config) -> float:
    """The COPY and VACUUM of the growth phase's largest size, at the measured rate."""
    if not config.selected("growth"):
        return 0.0
    return max(config.growth_sizes) / GROWTH_SEED_ROWS_PER_SECOND


def measurement_count(config: Config) -> int:
    """Measurements (keys of Results.runs) of the selected scenarios, warmed up once each,
    besides the other sorts' pages."""
    return sum(n for name, n in SCENARIOS.items() if config.selected(name))


def settings_measurement_count(config: Config) -> int:
    """The settings pairs (JWT auth on, metrics off, the control), each run of a pair two
    loads at once but one wrk run's time: BENCH_SETTINGS_REPEATS runs each, every one
    warmed up."""
    selected = sum(config.selected(name) for name in _SETTINGS_PAIRS)
    return selected + 1 if selected else 0


def sort_measurement_count(config: Config) -> int:
    return SORT_MEASUREMENTS if config.selected("sorts") else 0


def run_count(config: Config) -> int:
    """Measured wrk runs: every measurement BENCH_REPEATS times, the other sorts' pages
    BENCH_SORT_REPEATS times."""
    return (
        measurement_count(config) * config.repeats
        + (sort_measurement_count(config) + growth_measurement_count(config)) * config.sort_repeats
        + settings_measurement_count(config) * config.settings_repeats
    )


def wrk_seconds(config: Config) -> int:
    """Seconds of wrk, for the estimate printed at the start: the measured runs, plus one
    warm-up per measurement (before its first repeat only)."""
    return (
        measurement_count(config) * (config.repeats * config.duration + config.warmup)
        + sort_measurement_count(config) * config.sort_repeats * config.sort_duration
        + growth_measurement_count(config)
        * (config.sort_repeats * config.sort_duration + config.warmup)
        + settings_measurement_count(config)
        * config.settings_repeats
        * (config.duration + config.warmup)
    )
