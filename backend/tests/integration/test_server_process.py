"""The `todo-api` command as an operator runs it: a real uvicorn process on a real socket."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory, url_string
from tests.helpers import todo_url, todos_url
from todo_api.db.migrate import head_revision

STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command_env(database_url: URL | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PORT", "HOST"}}
    if database_url is not None:
        env["DATABASE_URL"] = url_string(database_url)
    return env | extra


def _todo_api(*arguments: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "todo_api", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def running(
    command: str, env: dict[str, str], cwd: Path, stop_signal: int = signal.SIGTERM
) -> Iterator[str]:
    """`todo-api COMMAND` on a free port until it answers /health; yields its base URL,
    then stops it with `stop_signal` and checks that it shut down gracefully."""
    port = _free_port()
    log_path = cwd / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "todo_api", command],
            cwd=cwd,
            env=env | {"PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(stop_signal)
        exit_status = process.wait(timeout=30)
        assert exit_status in {0, 128 + signal.SIGTERM}, log_path.read_text()
        assert "Application shutdown complete" in log_path.read_text()


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

    result = await asyncio.to_thread(_todo_api, "migrate", cwd=tmp_path, env=_command_env(empty))

    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stderr
    assert (empty.password or "") == "" or empty.password not in result.stderr


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_commands_refuse_to_start_without_a_database_url(command: str, tmp_path: Path) -> None:
    result = _todo_api(command, cwd=tmp_path, env=_command_env(None))

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_an_unsupported_database_url_is_refused_by_name(tmp_path: Path) -> None:
    env = _command_env(None, DATABASE_URL="mysql://user:hunter2@db/todo")

    result = _todo_api("migrate", cwd=tmp_path, env=env)

    assert result.returncode != 0
    assert "'mysql'" in result.stderr
    assert "hunter2" not in result.stderr
