"""`todo-api` as a real process on a free loopback port, for what only a real process
shows: uvicorn in front of the app (hostile HTTP, the browser tests, the commands as an
operator runs them), a process that can be stopped, killed or restarted under load, and
the console an operator reads.

`todo_api_server` is for the tests that only need the server up: it starts it, and checks
that it shut down gracefully when they are done. `ApiProcess` is for the tests that
decide themselves when and how the process goes away, and `todo_api` for the commands that
run to completion.

The load bench (bench/servers.py) starts its servers with these too, so that the suite and
the bench run `todo-api` the same way, in the same clean environment.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from todo_api.settings import Settings

# The console script next to this interpreter: what an operator types, not `python -m`.
TODO_API = str(Path(sys.executable).parent / "todo-api")
STARTUP_SECONDS = 30
# `todo-api run` without a DATABASE_URL first creates and starts its embedded PostgreSQL...
SERVER_STARTUP_SECONDS = 60
# ...and stops it after the server, which takes a while on a busy machine.
STOP_SECONDS = 60
# How long a command that runs to completion (`todo-api migrate`) may take.
COMMAND_SECONDS = 120
# The environment variables `Settings` reads, derived from it so that a new setting can
# never leak in unnoticed. They must not reach the server from the calling environment: a
# developer's shell may well have a database, an API key or CORS origins of its own.
SETTINGS_VARIABLES = frozenset(
    f"{Settings.model_config.get('env_prefix', '')}{name}".upper() for name in Settings.model_fields
)
_POLL_SECONDS = 0.05
# Straight to the server on the loopback interface, whatever *_proxy variables say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A loopback TCP port nothing listens on right now, for a server about to start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command_env(**settings: str) -> dict[str, str]:
    """This process's environment without any todo-api setting that would change what the
    test sees, plus `settings`. Settings' names are not case-sensitive, so neither is the
    clearing."""
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_VARIABLES}
    return inherited | settings


def todo_api(
    *arguments: str, env: dict[str, str], cwd: Path, timeout: float | None = COMMAND_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run `todo-api ARGUMENTS` to completion, its output captured; a command still running
    after `timeout` seconds raises `subprocess.TimeoutExpired` instead of hanging."""
    return subprocess.run(
        [TODO_API, *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServerFailed(RuntimeError):
    """A server process exited before it answered, or did not answer in time; the message
    ends with its output."""


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ServerProcess:
    """A server started from `argv`, that listens on 127.0.0.1:`port`, its output in
    `log_path`; killed on leaving the `with` block if it is still running, so that a failure
    leaves no server behind.

    `own_session` starts it in a session of its own: a Ctrl-C in the terminal then reaches
    only the caller, which stops it in order, and `kill` reaches its worker processes too."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        own_session: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.own_session = own_session
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=own_session,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_live(
        self,
        within: float = STARTUP_SECONDS,
        *,
        path: str = "/health",
        also: Callable[[], bool] | None = None,
    ) -> Self:
        """Returns once `path` answers 200 (and `also()` holds, when given); raises
        `ServerFailed`, with the output, if the process exits or `within` seconds pass
        first."""
        deadline = time.monotonic() + within
        while True:
            status = self.process.poll()
            if status is not None:
                raise ServerFailed(
                    f"{' '.join(self.argv)} exited with status {status} before {path} "
                    f"answered:\n{self.output}"
                )
            if (also is None or also()) and _answers(self.base_url + path):
                return self
            if time.monotonic() >= deadline:
                raise ServerFailed(
                    f"{' '.join(self.argv)}: {path} did not answer in {within} s:\n{self.output}"
                )
            time.sleep(_POLL_SECONDS)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful shutdown), and the exit status once it is gone; raises
        `subprocess.TimeoutExpired` if it is still running after `timeout` seconds."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, to its whole session when it has one (worker processes included)."""
        try:
            if self.own_session:
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.kill()


class ApiProcess(ServerProcess):
    """`todo-api COMMAND` on a free port (HOST and PORT set in its environment), its output
    in a log file: in `cwd` unless `log_path` says otherwise."""

    def __init__(
        self,
        command: str,
        env: dict[str, str],
        cwd: Path,
        *,
        log_path: Path | None = None,
        own_session: bool = False,
    ) -> None:
        port = free_port()
        super().__init__(
            [TODO_API, command],
            port=port,
            env=env | {"PORT": str(port), "HOST": "127.0.0.1"},
            cwd=cwd,
            log_path=log_path or cwd / f"todo-api-{command}-{port}.log",
            own_session=own_session,
        )


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
