"""Prometheus metrics: what is counted, where the values live, and how the worker processes
of one server add up (specs/decisions/0014-metrics.md).

No web framework here: the database layer counts its pool through `Metrics`, the HTTP
layer records each response (`api/middleware.py`) and serves the text (`api/metrics.py`).

With one worker the values live in the process, in a registry of the app's own. With
several (`WEB_CONCURRENCY` > 1), `todo-api serve` puts a fresh private directory in
PROMETHEUS_MULTIPROC_DIR before the workers start (`multiprocess_directory`);
prometheus_client then keeps every value in memory-mapped files there, one set per
process, and `/metrics`, in whichever worker answers, sums the files of all of them.
"""

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from todo_api import __version__

# prometheus_client reads this variable itself, once, when it is imported: the workers must
# find it in the environment they start with.
MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The text format every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# The route label of a request no route matched (a 404, or a 401 before routing): one
# value, so that unknown paths cannot create new series.
UNMATCHED_ROUTE = "unmatched"
# Any other method is counted as OTHER, for the same reason.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# GET one takes about 1-3 ms on a quiet machine; the pool timeout is 5 s by default.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DatabaseErrorKind = Literal["unavailable", "timeout", "other"]
DATABASE_ERROR_KINDS: tuple[DatabaseErrorKind, ...] = ("unavailable", "timeout", "other")
# How often `todo-api serve` looks for workers that died without shutting down.
REAP_SECONDS = 1.0

# The `_created` series (a timestamp per counter) exist only in single-process mode;
# without them the output has the same series with one worker as with several.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR. The library
    decides once, at import, from the environment; asking it (rather than reading the
    variable again) keeps `/metrics` reading where the values are written."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """The app's metrics. One per app: tests build as many apps as they like, each
    counting from zero. `observe_request` is on every request's path, so it finds the
    label children of a (method, route, status) in a dict of its own rather than through
    `.labels()`."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        # In multiprocess mode the values are in the files, whatever registry the metrics
        # are in; the exposition registry has only the collector that reads those files.
        own = None if self.multiprocess else CollectorRegistry()
        if own is None:
            self._exposition = CollectorRegistry()
            MultiProcessCollector(self._exposition)  # type: ignore[no-untyped-call]  # unannotated upstream
        else:
            self._exposition = own
        self.requests = Counter(
            "todo_api_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=own,
        )
        self.request_duration = Histogram(
            "todo_api_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method, route "
            "template and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.unavailable_responses = Counter(
            "todo_api_http_503_responses",
            "503 responses served: the database down, asleep, too slow, not migrated or read-only.",
            registry=own,
        )
        self.database_errors = Counter(
            "todo_api_db_errors",
            "Database failures that reached a client, by kind: unavailable and timeout "
            "are 503s, other (a driver error that is a bug) is a 500.",
            ("kind",),
            registry=own,
        )
        # livesum: the sum over the workers running now; a worker that exits takes its
        # share with it (`mark_process_dead`).
        self.pool_size = Gauge(
            "todo_api_db_pool_size",
            "Connections the pools may open (DB_POOL_SIZE per worker).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.pool_in_use = Gauge(
            "todo_api_db_pool_in_use",
            "Pooled connections borrowed for a statement (or being opened for one).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.pool_waiting = Gauge(
            "todo_api_db_pool_waiting",
            "Requests queued for a pooled connection.",
            registry=own,
            multiprocess_mode="livesum",
        )
        # A gauge set to 1 rather than an Info, which multiprocess mode does not support;
        # max: every worker of one server runs the same version.
        self.build_info = Gauge(
            "todo_api_build_info",
            "The running version; always 1.",
            ("version",),
            registry=own,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__).set(1)
        self._database_errors = {
            kind: self.database_errors.labels(kind) for kind in DATABASE_ERROR_KINDS
        }
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request. `route` is the route's template, never the path."""
        if method not in METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._bind(key)
        children[0].inc()
        children[1].observe(seconds)
        if status == 503:
            self.unavailable_responses.inc()

    def _bind(self, key: tuple[str, str, int]) -> tuple[Counter, Histogram]:
        method, route, status = key
        labels = (method, route if route.startswith("/") else UNMATCHED_ROUTE, str(status))
        children = (self.requests.labels(*labels), self.request_duration.labels(*labels))
        self._request_children[key] = children
        return children

    def count_database_error(self, kind: DatabaseErrorKind) -> None:
        self._database_errors[kind].inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format (`CONTENT_TYPE`); in multiprocess mode,
        summed over the files of every worker of this server."""
        return generate_latest(self._exposition)

    def forget_this_process(self) -> None:
        """At a worker's shutdown: its live gauges (the pool) stop counting at once. Its
        counters stay, so the totals do not go down."""
        if self.multiprocess:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # unannotated upstream


def forget_dead_workers(directory: Path) -> list[int]:
    """Remove the live gauges of every process that wrote them and no longer runs (a
    worker killed without its shutdown), so its pool does not stay counted; returns their
    process ids."""
    dead = []
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        if not _is_running(pid):
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]  # unannotated upstream
            dead.append(pid)
    return sorted(set(dead))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now has the number
        return True
    return True


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[Path | None]:
    """For more than one worker: a fresh private directory (mode 0700) in
    PROMETHEUS_MULTIPROC_DIR, in the environment the workers are about to inherit, for as
    long as they run; and a thread that forgets the live gauges of a worker that died
    without shutting down (the supervisor starts another). Removed, with its files, when
    the block ends. For one worker, nothing (None): the normal, in-process registry."""
    if workers <= 1:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="todo-api-metrics-"))
    # Written, not read: the variable is for the worker processes (and prometheus_client).
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = str(directory)
    stop = threading.Event()
    reaper = threading.Thread(
        target=_reap_until, args=(directory, stop), name="metrics-reaper", daemon=True
    )
    reaper.start()
    try:
        yield directory
    finally:
        stop.set()
        reaper.join()
        os.environ.pop(MULTIPROCESS_DIRECTORY_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def _reap_until(directory: Path, stop: threading.Event) -> None:
    while not stop.wait(REAP_SECONDS):
        forget_dead_workers(directory)
