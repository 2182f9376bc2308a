"""`todo-api` as a real process on a free loopback port, for what only a real process
shows: uvicorn in front of the app (hostile HTTP, the browser tests, the commands as an
operator runs them), a process that can be stopped, killed or restarted under load, and
the console an operator reads.

`todo_api_server` is for the tests that only need the server up: it starts it, and checks
that it shut down gracefully when they are done. `ApiProcess` is for the tests that
decide themselves when and how the process goes away, and `todo_api` for the commands that
run to completion.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.local_postgres import free_port

STARTUP_SECONDS = 30
# `todo-api run` without a DATABASE_URL first creates and starts its embedded PostgreSQL...
SERVER_STARTUP_SECONDS = 60
# ...and stops it after the server, which takes a while on a busy machine.
STOP_SECONDS = 60
# Settings of the calling environment that must not leak into the server under test: a
# developer's shell may well have a database, an API key or CORS origins of its own.
_CLEARED = {
    "DATABASE_URL",
    "DATABASE_URL_UNPOOLED",
    "EMBEDDED_DATA_DIR",
    "API_KEY",
    "CORS_ORIGINS",
    "PORT",
    "HOST",
}


def command_env(**settings: str) -> dict[str, str]:
    """This process's environment without any todo-api setting that would change what the
    test sees, plus `settings`."""
    return {k: v for k, v in os.environ.items() if k not in _CLEARED} | settings


def todo_api(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `todo-api ARGUMENTS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "todo_api", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class ApiProcess:
    """`todo-api COMMAND` on a free port, its output in a log file; killed on leaving the
    `with` block if it is still running, so that a failed test leaves no server behind."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"todo-api-{command}-{self.port}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "todo_api", command],
                cwd=cwd,
                env=env | {"PORT": str(self.port), "HOST": "127.0.0.1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_until_live(self, within: float = STARTUP_SECONDS) -> Self:
        """Returns once /health answers 200; fails, with the output, if the process exits
        or `within` seconds pass first."""
        deadline = time.monotonic() + within
        while True:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"not live in {within} s:\n{self.output}"
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> int:
        """SIGTERM, and the exit status once it is gone."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def todo_api_server(
    command: str, env: dict[str, str], cwd: Path, stop_signal: int = signal.SIGTERM
) -> Iterator[tuple[str, Path]]:
    """`todo-api COMMAND` on a free port until it answers /health; yields its base URL and
    the path of its log, then stops it with `stop_signal` (so `todo-api run` stops its
    embedded PostgreSQL too) and checks that it shut down gracefully."""
    with ApiProcess(command, env, cwd) as api:
        try:
            api.wait_until_live(within=SERVER_STARTUP_SECONDS)
            yield api.base_url, api.log_path
        finally:
            if api.process.poll() is None:
                api.signal(stop_signal)
            # On a timeout, leaving the `with` block kills it.
            exit_status = api.wait(timeout=STOP_SECONDS)
            assert exit_status in {0, 128 + signal.SIGTERM}, api.output
            assert "Application shutdown complete" in api.output
