"""The API under granian instead of uvicorn, for the `serving` phase only (decision 0020).

Run as a script (`python bench/granian_serve.py`) in bench/out, as `todo-api serve` is, and
configured the same way, by the environment (HOST, PORT, WEB_CONCURRENCY, LOG_LEVEL, ...):
the same app factory, the same logging set-up and the same shared metrics directory when
there is more than one worker. What granian does differently is listed in `DIFFERENCES`.
Not part of the package: `todo-api serve` runs uvicorn.
"""

from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from granian.server import Server

from todo_api.cli import _logging_config
from todo_api.metrics import multiprocess_directory
from todo_api.settings import get_settings

# How this differs from `todo-api serve` (uvicorn), for the report: what granian cannot be
# told, or does of its own accord.
DIFFERENCES = (
    "granian has no proxy-headers handling (uvicorn's default trusts X-Forwarded-For and "
    "-Proto from 127.0.0.1; wrk sends neither, so uvicorn only pays the check)",
    "granian's HTTP/1 parser is Rust (hyper) and its I/O runs on a Rust runtime thread; the "
    "app's coroutines run on uvloop in the worker (`loop=uvloop`), as under uvicorn",
    "granian always has a supervisor process, even with one worker; uvicorn with one "
    "worker serves in its only process",
    "granian forks its workers (Python 3.11 on Linux); uvicorn spawns them",
    "access log off in both; no `Server` header in either (uvicorn: server_header=False)",
    "lifespan: both run the app's lifespan (granian's asgi interface, uvicorn's `auto`)",
)


def main() -> None:
    settings = get_settings()
    workers = settings.web_concurrency if settings.metrics_enabled else 1
    with multiprocess_directory(workers):
        Server(
            "todo_api.main:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.web_concurrency,
            loop=Loops.uvloop,
            websockets=False,
            log_level=LogLevels(settings.log_level.lower()),
            log_dictconfig=_logging_config(settings),
            log_access=False,
            respawn_failed_workers=True,
        ).serve()


if __name__ == "__main__":
    main()
