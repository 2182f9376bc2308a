"""The `todo-api` command: `serve`, `migrate`, and `run` (both, on the embedded PostgreSQL
when DATABASE_URL is unset). The Makefile calls these; so can a container or a process
manager."""

import argparse
import copy
import logging
import signal
from collections.abc import Sequence
from typing import Any

import uvicorn
from pydantic import SecretStr

from todo_api.db.embedded import EmbeddedPostgres
from todo_api.db.migrate import upgrade_to_head
from todo_api.db.url import describe, to_async_url
from todo_api.main import create_app
from todo_api.settings import Settings, get_settings

logger = logging.getLogger("todo_api")

EMBEDDED_DATABASE = "todo"


def _logging_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's own logging setup, extended to the app's loggers in every worker."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["todo_api"] = {
        "handlers": ["default"],
        "level": settings.log_level,
        "propagate": False,
    }
    return config


def _require_database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SystemExit(
            "DATABASE_URL is not set (or use `todo-api run` for the embedded database)"
        )
    return settings.database_url.get_secret_value()


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest migration."""
    url = to_async_url(_require_database_url(settings))
    logger.info("Migrating %s", describe(url))
    upgrade_to_head(url)
    logger.info("Schema is at the newest migration")


def serve(settings: Settings) -> None:
    """Serve the API with WEB_CONCURRENCY worker processes; never migrates."""
    _require_database_url(settings)
    uvicorn.run(
        "todo_api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        log_config=_logging_config(settings),
        log_level=settings.log_level.lower(),
    )


def run(settings: Settings) -> None:
    """Migrate and serve; with no DATABASE_URL, on the embedded PostgreSQL, which is
    stopped again when the server exits (Ctrl-C)."""
    if settings.database_url is not None:
        migrate(settings)
        serve(settings)
        return
    logger.info(
        "No DATABASE_URL: starting the embedded PostgreSQL in %s", settings.embedded_data_dir
    )
    with EmbeddedPostgres(settings.embedded_data_dir) as postgres:
        postgres.create_database(EMBEDDED_DATABASE)
        url = postgres.url(EMBEDDED_DATABASE).render_as_string(hide_password=False)
        embedded = settings.model_copy(update={"database_url": SecretStr(url)})
        migrate(embedded)
        print(f"Todo API docs: http://{settings.host}:{settings.port}/docs", flush=True)  # noqa: T201
        # One process: the app object is built here, with the embedded database's URL.
        uvicorn.run(
            create_app(embedded),
            host=settings.host,
            port=settings.port,
            log_config=_logging_config(settings),
            log_level=settings.log_level.lower(),
        )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (DATABASE_URL required; no migrations)")
    commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL")
    commands.add_parser("run", help="migrate, then serve; embedded PostgreSQL without DATABASE_URL")
    arguments = parser.parse_args(argv)

    # uvicorn re-raises SIGTERM after its graceful shutdown. Turned into SystemExit instead
    # of the default "die now", it unwinds normally: the embedded database is stopped and
    # exit handlers run. The exit status stays the conventional 128 + 15.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s:     %(message)s")
    {"serve": serve, "migrate": migrate, "run": run}[arguments.command](settings)
