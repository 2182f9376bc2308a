"""todo_api/metrics.py: what `Metrics` records, and the multiprocess directory of
`todo-api serve` (made fresh and private, dead workers' pool gauges forgotten, removed at
exit). The directory's use by real worker processes is tested in
integration/test_metrics.py."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scrape import family_names, value
from todo_api import __version__
from todo_api.metrics import (
    MULTIPROCESS_DIRECTORY_VARIABLE,
    REAP_SECONDS,
    Metrics,
    forget_dead_workers,
    multiprocess_directory,
)

EVERY_FAMILY = {
    "todo_api_http_requests",
    "todo_api_http_request_duration_seconds",
    "todo_api_http_503_responses",
    "todo_api_db_errors",
    "todo_api_db_pool_size",
    "todo_api_db_pool_in_use",
    "todo_api_db_pool_waiting",
    "todo_api_build_info",
}


def _text(metrics: Metrics) -> str:
    return metrics.exposition().decode()


def _a_finished_process_id() -> int:
    """The id of a process that has exited and been reaped: no process has it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_tests_run_in_single_process_mode() -> None:
    """Otherwise every in-process test below would be reading files, not this registry."""
    assert Metrics().multiprocess is False


def test_a_new_registry_parses_and_has_every_family_and_the_version() -> None:
    text = _text(Metrics())

    assert family_names(text) == EVERY_FAMILY
    assert value(text, "todo_api_build_info", version=__version__) == 1
    for kind in ("unavailable", "timeout", "other"):
        assert value(text, "todo_api_db_errors_total", kind=kind) == 0
    assert "_created" not in text


def test_each_app_counts_from_zero() -> None:
    first, second = Metrics(), Metrics()
    first.observe_request("GET", "/health", 200, 0.001)

    assert value(_text(first), "todo_api_http_requests_total") == 1
    assert "todo_api_http_requests_total{" not in _text(second)


def test_a_request_is_counted_and_timed_under_its_labels() -> None:
    metrics = Metrics()
    for seconds in (0.0005, 0.003, 0.2):
        metrics.observe_request("GET", "/api/v1/users/{user_id}/todos", 200, seconds)
    text = _text(metrics)

    labels = {"method": "GET", "route": "/api/v1/users/{user_id}/todos", "status": "200"}
    assert value(text, "todo_api_http_requests_total", **labels) == 3
    histogram = "todo_api_http_request_duration_seconds"
    assert value(text, f"{histogram}_count", **labels) == 3
    assert value(text, f"{histogram}_bucket", le="0.001", **labels) == 1
    assert value(text, f"{histogram}_bucket", le="0.005", **labels) == 2
    assert value(text, f"{histogram}_bucket", le="+Inf", **labels) == 3
    assert value(text, f"{histogram}_sum", **labels) == pytest.approx(0.2035)


def test_no_route_is_one_label_and_unknown_methods_are_other() -> None:
    metrics = Metrics()
    for method in ("BREW", "PROPFIND", "X" * 16):
        metrics.observe_request(method, "-", 405, 0.001)
    text = _text(metrics)

    assert value(text, "todo_api_http_requests_total", method="OTHER", route="unmatched") == 3
    assert "BREW" not in text
    assert 'route="-"' not in text


def test_503s_have_a_counter_of_their_own() -> None:
    metrics = Metrics()
    metrics.observe_request("GET", "/health/ready", 503, 0.01)
    metrics.observe_request("GET", "/health/ready", 200, 0.01)
    metrics.observe_request("GET", "/health/ready", 500, 0.01)

    assert value(_text(metrics), "todo_api_http_503_responses_total") == 1


def test_database_errors_are_counted_by_kind() -> None:
    metrics = Metrics()
    metrics.count_database_error("timeout")
    metrics.count_database_error("timeout")
    metrics.count_database_error("other")
    text = _text(metrics)

    assert value(text, "todo_api_db_errors_total", kind="timeout") == 2
    assert value(text, "todo_api_db_errors_total", kind="other") == 1
    assert value(text, "todo_api_db_errors_total", kind="unavailable") == 0


def test_one_worker_needs_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)

    with multiprocess_directory(1) as directory:
        assert directory is None
        assert MULTIPROCESS_DIRECTORY_VARIABLE not in os.environ


def test_several_workers_get_a_fresh_private_directory_removed_with_its_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)

    with multiprocess_directory(2) as directory:
        assert directory is not None
        assert directory.name.startswith("todo-api-metrics-")
        assert list(directory.iterdir()) == []
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] == str(directory)
        (directory / "counter_12345.db").write_bytes(b"values")

    assert not directory.exists()
    assert MULTIPROCESS_DIRECTORY_VARIABLE not in os.environ


def test_the_live_gauges_of_dead_processes_are_forgotten_and_nothing_else(tmp_path: Path) -> None:
    dead, alive = _a_finished_process_id(), os.getpid()
    for name in (
        f"gauge_livesum_{dead}.db",
        f"gauge_liveall_{dead}.db",
        f"counter_{dead}.db",
        f"gauge_max_{dead}.db",
        f"gauge_livesum_{alive}.db",
    ):
        (tmp_path / name).write_bytes(b"")

    assert forget_dead_workers(tmp_path) == [dead]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_max_{dead}.db", f"gauge_livesum_{alive}.db"]
    )


def test_serve_forgets_a_dead_workers_pool_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)
    dead = _a_finished_process_id()

    with multiprocess_directory(2) as directory:
        assert directory is not None
        gauges = directory / f"gauge_livesum_{dead}.db"
        gauges.write_bytes(b"")
        deadline = time.monotonic() + 5 * REAP_SECONDS
        while gauges.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gauges.exists()
