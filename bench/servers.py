"""Starting and stopping the servers under test, exactly as their users would.

The API is `todo-api migrate` then `todo-api serve`, configured only through environment
variables (or, for the `serving` phase, the same app under granian: bench/granian_serve.py);
the reference is plain `uvicorn`. Each runs in a session of its own, so a
Ctrl-C in the terminal reaches the bench (which then stops them in order) rather than
killing them halfway through a measurement.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.config import REPO_DIR, Config
from tests.processes import (
    ApiProcess,
    ServerFailed,
    ServerProcess,
    command_env,
    free_port,
    todo_api,
)

__all__ = ["Server", "ServerFailed", "migrate", "start_api", "start_granian", "start_reference"]

_STARTUP_SECONDS = 60
_STOP_SECONDS = 20
_SPAWNED_WORKER = "spawn_main"  # in the command line of uvicorn's worker processes
# multiprocessing's helper, a child of a supervisor that is not a worker.
_RESOURCE_TRACKER = "resource_tracker"
_GRANIAN_SERVE = Path(__file__).resolve().parent / "granian_serve.py"


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
    """A running server process (with uvicorn's workers below it when `workers` > 1, and
    granian's always: `forked`), in a session of its own."""

    name: str
    running: ServerProcess
    workers: int
    # granian: a supervisor even for one worker, its workers forked (the same command line).
    forked: bool = False

    @property
    def url(self) -> str:
        return self.running.base_url

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the process itself when it has one worker,
        otherwise its spawned worker children (not the supervisor)."""
        pid = self.running.process.pid
        if self.forked:
            return [child for child in _children(pid) if _RESOURCE_TRACKER not in _cmdline(child)]
        if self.workers == 1:
            return [pid]
        return [child for child in _children(pid) if _SPAWNED_WORKER in _cmdline(child)]

    def wait_ready(self, health_path: str) -> None:
        """Returns once `health_path` answers 200 and every worker has started; stops the
        server and raises `ServerFailed` if it exits or takes too long."""
        try:
            self.running.wait_until_live(
                _STARTUP_SECONDS,
                path=health_path,
                also=lambda: len(self.worker_pids()) == self.workers,
            )
        except ServerFailed as failure:
            self.stop()
            raise ServerFailed(f"{self.name} did not become ready: {failure}") from None
        except BaseException:
            self.stop()
            raise

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
        try:
            self.running.stop(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.running.kill()


def migrate(config: Config, database_url: str) -> None:
    """`todo-api migrate`, as an operator runs it before serving."""
    env = command_env(DATABASE_URL=database_url, LOG_LEVEL="warning")
    completed = todo_api("migrate", env=env, cwd=config.out_dir, timeout=None)
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
    env = command_env(
        DATABASE_URL=database_url, LOG_LEVEL="warning", WEB_CONCURRENCY=str(workers)
    ) | (settings or {})
    # In bench/out, where no `.env` file of the checkout can add settings.
    running = ApiProcess(
        "serve",
        env,
        config.out_dir,
        log_path=config.path("logs", f"{name}.log"),
        own_session=True,
    )
    server = Server(name=name, running=running, workers=workers)
    server.wait_ready("/health/ready")
    return server


def start_granian(config: Config, name: str, database_url: str, *, workers: int = 1) -> Server:
    """The API's app under granian (bench/granian_serve.py), configured as `start_api`
    configures `todo-api serve`: the same environment, in bench/out."""
    port = free_port()
    env = command_env(
        DATABASE_URL=database_url,
        LOG_LEVEL="warning",
        WEB_CONCURRENCY=str(workers),
        HOST="127.0.0.1",
        PORT=str(port),
    )
    running = ServerProcess(
        # -P: bench/ (the script's folder) is not put on the import path, where its modules
        # (config, database, ...) would shadow any of the same name.
        [sys.executable, "-P", str(_GRANIAN_SERVE)],
        port=port,
        env=env,
        cwd=config.out_dir,
        log_path=config.path("logs", f"{name}.log"),
        own_session=True,
    )
    server = Server(name=name, running=running, workers=workers, forked=True)
    server.wait_ready("/health/ready")
    return server


REFERENCE_APP = "bench.reference.app:app"
FASTAPI_FLOOR_APP = "bench.reference.fastapi_floor:app"


def start_reference(
    config: Config, name: str, dsn: str, *, workers: int = 1, app: str = REFERENCE_APP
) -> Server:
    """The reference app (or `app`, another of bench/reference) under uvicorn, with the
    same event loop and HTTP parser choice (uvicorn's defaults: uvloop and httptools) and
    log level as the API."""
    port = free_port()
    env = os.environ | {
        "BENCH_REFERENCE_DSN": dsn,
        "BENCH_REFERENCE_POOL": str(config.reference_pool),
        "PORT": str(port),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
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
    running = ServerProcess(
        command,
        port=port,
        env=env,
        cwd=REPO_DIR,
        log_path=config.path("logs", f"{name}.log"),
        own_session=True,
    )
    server = Server(name=name, running=running, workers=workers)
    server.wait_ready("/health")
    return server
