"""The `todo-api` command as an operator runs it: a real uvicorn process on a real socket."""

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory, url_string
from tests.helpers import todo_url, todos_url
from tests.processes import COMMAND_SECONDS, command_env, todo_api, todo_api_server
from todo_api.db.migrate import head_revision


def _command_env(database_url: URL | None, **extra: str) -> dict[str, str]:
    """The environment of a `todo-api` process against `database_url` (or none)."""
    database = {"DATABASE_URL": url_string(database_url)} if database_url is not None else {}
    return command_env(**database, **extra)


@contextmanager
def running(
    command: str, env: dict[str, str], cwd: Path, stop_signal: int = signal.SIGTERM
) -> Iterator[str]:
    """`todo-api COMMAND` serving on a free port; yields its base URL."""
    with todo_api_server(command, env, cwd, stop_signal) as (base_url, _log):
        yield base_url


def serving(database_url: URL, cwd: Path) -> Any:
    """`todo-api serve` against `database_url`."""
    return running("serve", _command_env(database_url), cwd)


def _postgres_running_in(data_dir: Path) -> bool:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return any(str(data_dir) in line and "postgres" in line for line in ps.stdout.splitlines())


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_serves_on_the_embedded_database_and_keeps_its_data(
    tmp_path: Path, stop_signal: int
) -> None:
    data_dir = tmp_path / "data" / "postgres"
    env = _command_env(None, EMBEDDED_DATA_DIR=str(data_dir))

    with running("run", env, tmp_path, stop_signal) as base_url:
        created = httpx.post(f"{base_url}{todos_url('alice')}", json={"title": "kept"})
        assert httpx.get(f"{base_url}/health/ready").status_code == 200
    assert not _postgres_running_in(data_dir)

    with running("run", env, tmp_path, stop_signal) as base_url:
        fetched = httpx.get(f"{base_url}{todo_url('alice', created.json()['id'])}")
    assert not _postgres_running_in(data_dir)

    assert fetched.json() == created.json()


def test_data_survives_a_restart_of_the_api(database_url: URL, tmp_path: Path) -> None:
    with serving(database_url, tmp_path) as base_url:
        created = httpx.post(f"{base_url}{todos_url('alice')}", json={"title": "persist me"})
        assert created.status_code == 201

    with serving(database_url, tmp_path) as base_url:
        fetched = httpx.get(f"{base_url}{todo_url('alice', created.json()['id'])}")

    assert fetched.status_code == 200
    assert fetched.json() == created.json()


def test_a_real_server_rejects_an_oversized_body_with_json(
    database_url: URL, tmp_path: Path
) -> None:
    with serving(database_url, tmp_path) as base_url:
        response = httpx.post(
            f"{base_url}{todos_url('alice')}",
            content=b"x" * (65 * 1024),
            headers={"content-type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


async def test_migrate_brings_an_empty_database_to_the_head(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    empty = await databases.create(migrated=False)

    result = await asyncio.to_thread(todo_api, "migrate", cwd=tmp_path, env=_command_env(empty))

    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stderr
    assert (empty.password or "") == "" or empty.password not in result.stderr


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_commands_refuse_to_start_without_a_database_url(command: str, tmp_path: Path) -> None:
    result = todo_api(command, cwd=tmp_path, env=_command_env(None))

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_an_unsupported_database_url_is_refused_by_name(tmp_path: Path) -> None:
    env = _command_env(None, DATABASE_URL="mysql://user:hunter2@db/todo")

    result = todo_api("migrate", cwd=tmp_path, env=env)

    assert result.returncode != 0
    assert "'mysql'" in result.stderr
    assert "hunter2" not in result.stderr


def test_python_m_todo_api_is_the_same_command(tmp_path: Path) -> None:
    """`python -m todo_api` (todo_api/__main__.py) runs what the `todo-api` script runs; the
    rest of the suite starts the script, as an operator does."""
    env = _command_env(None)
    script = todo_api("--help", cwd=tmp_path, env=env)

    module = subprocess.run(
        [sys.executable, "-m", "todo_api", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )

    assert module.returncode == script.returncode == 0, module.stderr
    assert module.stdout == script.stdout


def test_log_format_json_writes_one_object_per_line_with_the_request_fields(
    database_url: URL, tmp_path: Path
) -> None:
    env = _command_env(database_url, LOG_FORMAT="json")
    with todo_api_server("serve", env, tmp_path) as (base_url, log):
        created = httpx.post(
            f"{base_url}{todos_url('json-log-user')}",
            json={"title": "t"},
            headers={"X-Request-ID": "json-log-1"},
        )
    assert created.status_code == 201

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, uvicorn's own included
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    (request,) = [r for r in records if r.get("request_id") == "json-log-1"]
    assert request["logger"] == "todo_api.requests"
    assert {key: request[key] for key in ("method", "route", "status")} == {
        "method": "POST",
        "route": "/api/v1/users/{user_id}/todos",
        "status": 201,
    }
    assert isinstance(request["duration_ms"], float)
    assert "json-log-user" not in log.read_text()


def test_an_unknown_log_format_stops_the_process_naming_it(tmp_path: Path) -> None:
    result = todo_api("serve", cwd=tmp_path, env=_command_env(None, LOG_FORMAT="yaml"))

    assert result.returncode != 0
    assert "LOG_FORMAT" in result.stderr or "log_format" in result.stderr
