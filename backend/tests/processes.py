"""`todo-api` as a real server process on a free port, for the conformance tests that need
the real HTTP server (uvicorn) in front of the app, and for the browser tests.

(The process helper of the integration tests is `tests/api_process.py`.)
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 60
# `todo-api run` stops its embedded PostgreSQL after the server, which takes a while on a
# busy machine.
STOP_SECONDS = 60
# Settings of the calling environment that must not leak into the server under test.
_SETTINGS = {
    "DATABASE_URL",
    "DATABASE_URL_UNPOOLED",
    "EMBEDDED_DATA_DIR",
    "API_KEY",
    "CORS_ORIGINS",
    "PORT",
    "HOST",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command_env(**settings: str) -> dict[str, str]:
    """This process's environment without any todo-api setting, plus `settings`."""
    return {k: v for k, v in os.environ.items() if k not in _SETTINGS} | settings


@contextmanager
def todo_api_server(
    command: str, env: dict[str, str], cwd: Path, stop_signal: int = signal.SIGTERM
) -> Iterator[tuple[str, Path]]:
    """`todo-api COMMAND` on a free port until it answers /health; yields its base URL and
    the path of its log, then stops it with `stop_signal` (so `todo-api run` stops its
    embedded PostgreSQL too) and checks that it shut down gracefully."""
    port = _free_port()
    log_path = cwd / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "todo_api", command],
            cwd=cwd,
            env=env | {"PORT": str(port), "HOST": "127.0.0.1"},
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
            assert time.monotonic() < deadline, "server did not start:\n" + log_path.read_text()
            time.sleep(0.1)
        yield base_url, log_path
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
        try:
            exit_status = process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert exit_status in {0, 128 + signal.SIGTERM}, log_path.read_text()
        assert "Application shutdown complete" in log_path.read_text()
