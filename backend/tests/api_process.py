"""`todo-api` as a real process on a real socket, for the tests that stop, kill or restart
it, or that must see what an operator sees on its console."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.local_postgres import free_port

STARTUP_SECONDS = 30
_CLEARED = {"DATABASE_URL", "DATABASE_URL_UNPOOLED", "PORT", "HOST"}


def command_env(**variables: str) -> dict[str, str]:
    """This process's environment without any database or listening settings, plus
    `variables`."""
    return {k: v for k, v in os.environ.items() if k not in _CLEARED} | variables


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
    """`todo-api COMMAND` on a free port, its output in a log file."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"todo-api-{command}-{self.port}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "todo_api", command],
                cwd=cwd,
                env=env | {"PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_until_live(self) -> Self:
        """Returns once /health answers 200."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"not live in {STARTUP_SECONDS} s:\n{self.output}"
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
