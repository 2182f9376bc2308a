"""Starting and stopping the servers under test, exactly as their users would.

The API is `todo-api migrate` then `todo-api serve`, configured only through environment
variables; the reference is plain `uvicorn`. Each runs in a session of its own, so a
Ctrl-C in the terminal reaches the bench (which then stops them in order) rather than
killing them halfway through a measurement.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.config import REPO_DIR, Config
from todo_api.settings import Settings

TODO_API = str(Path(sys.executable).parent / "todo-api")
_STARTUP_SECONDS = 60
_STOP_SECONDS = 20
# Every API setting, so that a developer's shell cannot change what is measured (the
# bench sets what it needs).
_API_SETTINGS = {name.upper() for name in Settings.model_fields}
_SPAWNED_WORKER = "spawn_main"  # in the command line of uvicorn's worker processes


class ServerFailed(RuntimeError):
    """A server did not start, or a command it needs failed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _API_SETTINGS}


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the parent pid follows it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass(slots=True)
class Server:
    """A running server process (with uvicorn's workers below it when `workers` > 1)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the process itself when it has one worker,
        otherwise its spawned worker children (not the supervisor)."""
        if self.workers == 1:
            return [self.process.pid]
        return [pid for pid in _children(self.process.pid) if _SPAWNED_WORKER in _cmdline(pid)]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, health_path: str) -> None:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited at start-up:\n{self.log_tail()}")
            if len(self.worker_pids()) == self.workers and _answers(self.url + health_path):
                return
            time.sleep(0.2)
        raise ServerFailed(f"{self.name} did not become ready:\n{self.log_tail()}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL to its own process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (http://127.0.0.1)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start(
    config: Config, name: str, command: list[str], env: dict[str, str], workers: int, cwd: Path
) -> Server:
    log_path = config.path("logs", f"{name}.log")
    port = int(env["PORT"])
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own fixed arguments)
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name=name, process=process, port=port, workers=workers, log_path=log_path)


def migrate(config: Config, database_url: str) -> None:
    """`todo-api migrate`, as an operator runs it before serving."""
    env = _clean_env() | {"DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    completed = subprocess.run(  # noqa: S603  (our own fixed arguments)
        [TODO_API, "migrate"],
        cwd=config.out_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    config.path("logs", "migrate.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise ServerFailed(f"todo-api migrate failed:\n{completed.stdout}{completed.stderr}")


def start_api(
    config: Config,
    name: str,
    database_url: str,
    *,
    workers: int = 1,
    settings: dict[str, str] | None = None,
) -> Server:
    """`todo-api serve` with the defaults, except for `settings`."""
    env = _clean_env() | {
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
        "HOST": "127.0.0.1",
        "PORT": str(_free_port()),
        "WEB_CONCURRENCY": str(workers),
    }
    # In bench/out, where no `.env` file of the checkout can add settings.
    command = [TODO_API, "serve"]
    server = _start(config, name, command, env | (settings or {}), workers, config.out_dir)
    try:
        server.wait_ready("/health/ready")
    except BaseException:
        server.stop()
        raise
    return server


def start_reference(config: Config, name: str, dsn: str, *, workers: int = 1) -> Server:
    """The reference app under uvicorn, with the same event loop and HTTP parser choice
    (uvicorn's defaults: uvloop and httptools) and log level as the API."""
    port = _free_port()
    env = os.environ | {
        "BENCH_REFERENCE_DSN": dsn,
        "BENCH_REFERENCE_POOL": str(config.reference_pool),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.reference.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    # In the checkout, whence uvicorn imports `bench.reference.app`.
    server = _start(config, name, command, env | {"PORT": str(port)}, workers, REPO_DIR)
    try:
        server.wait_ready("/health")
    except BaseException:
        server.stop()
        raise
    return server
