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

from todo_api.db.availability import is_database_unavailable
from todo_api.db.database import is_pooled
from todo_api.db.embedded import EmbeddedPostgres
from todo_api.db.migrate import migration_sql, upgrade_to_head
from todo_api.db.startup_checks import StartupCheckFailed, check_database
from todo_api.db.url import DatabaseTarget, DatabaseUrlError, parse_database_url
from todo_api.logs import JsonFormatter
from todo_api.main import create_app
from todo_api.metrics import multiprocess_directory
from todo_api.settings import MissingSetting, Settings, get_settings

logger = logging.getLogger("todo_api")

EMBEDDED_DATABASE = "todo"
# No `Server: uvicorn` banner, and no uvicorn access log: it would write each request's full
# path and query string. The app logs one line per request itself, without them
# (ResponseHeadersAndLogMiddleware).
_SERVER_OPTIONS: dict[str, Any] = {"server_header": False, "access_log": False}


def _logging_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's own logging setup, extended to the app's loggers in every worker."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    if settings.log_format == "json":
        for formatter in config["formatters"]:
            config["formatters"][formatter] = {"()": JsonFormatter}
    config["loggers"]["todo_api"] = {
        "handlers": ["default"],
        "level": settings.log_level,
        "propagate": False,
    }
    return config


class DatabaseUnreachable(Exception):
    """The database could not be reached to migrate it; the message names where it is
    (host and database, never the password) and why."""


def _require_database_url(settings: Settings) -> str:
    try:
        return settings.required_database_url()
    except MissingSetting as exc:
        raise SystemExit(str(exc)) from None


def _target(raw: str, variable: str) -> DatabaseTarget:
    """The parsed URL, or the process stops with an error naming what is wrong."""
    try:
        return parse_database_url(raw, variable=variable)
    except DatabaseUrlError as exc:
        raise SystemExit(f"Cannot start: {exc}") from None


def _migration_target(settings: Settings) -> tuple[DatabaseTarget, bool, str]:
    """Where migrations run, whether that is through a transaction pooler, and the
    setting it came from: the direct DATABASE_URL_UNPOOLED when set, otherwise
    DATABASE_URL."""
    if settings.database_url_unpooled is not None:
        variable = "DATABASE_URL_UNPOOLED"
        target = _target(settings.database_url_unpooled.get_secret_value(), variable)
        if target.pooler_host:
            logger.warning("DATABASE_URL_UNPOOLED names a pooled endpoint; use the direct one")
        return target, target.pooler_host, variable
    target = _target(_require_database_url(settings), "DATABASE_URL")
    pooled = is_pooled(target, settings)
    if pooled:
        logger.warning(
            "Migrating through the transaction pooler in DATABASE_URL; set "
            "DATABASE_URL_UNPOOLED to the direct connection string (Neon: the same host "
            "without -pooler) to migrate over a direct connection"
        )
    return target, pooled, "DATABASE_URL"


def _check_database(
    target: DatabaseTarget, variable: str, settings: Settings, *, certificate_only: bool
) -> BaseException | None:
    """The start-up checks (db/startup_checks.py): the process stops, with one line saying
    what to set, when the database can never be used as configured. Returns the connect
    failure when the database could not be reached."""
    try:
        return check_database(
            target,
            connect_timeout=settings.db_connect_timeout,
            variable=variable,
            certificate_only=certificate_only,
        )
    except StartupCheckFailed as exc:
        raise SystemExit(str(exc)) from None


def _reason(exc: BaseException, password: str | None) -> str:
    """The innermost cause of a failure, in one line, the password masked if it occurs."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text.replace(password, "***") if password else text


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest migration. Raises DatabaseUnreachable when the
    database cannot be reached (or refuses the connection); stops the process when it can
    never be used as configured (the start-up checks)."""
    target, pooled, variable = _migration_target(settings)
    logger.info("Migrating %s", target.describe())
    password = target.connect_kwargs.get("password")
    try:
        failure = _check_database(target, variable, settings, certificate_only=False)
        if failure is not None and is_database_unavailable(failure):
            raise failure  # the same outage the migration would meet, without waiting twice
        upgrade_to_head(target, pooled=pooled, connect_timeout=settings.db_connect_timeout)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        raise DatabaseUnreachable(
            f"Cannot migrate: could not connect to {target.location()} ({_reason(exc, password)})"
        ) from None
    logger.info("Schema is at the newest migration")


def _migrate_command(settings: Settings) -> None:
    try:
        migrate(settings)
    except DatabaseUnreachable as exc:
        raise SystemExit(str(exc)) from None


def serve(settings: Settings) -> None:
    """Serve the API with WEB_CONCURRENCY worker processes; never migrates. Starts whether
    or not the database is reachable: requests answer 503 until it is. Stops instead when
    channel_binding=require meets a server certificate that does not verify (see
    db/startup_checks.py), which no wait would mend. With more than one worker (and
    metrics on), the workers share a fresh metrics directory, removed at exit."""
    target = _target(_require_database_url(settings), "DATABASE_URL")
    _check_database(target, "DATABASE_URL", settings, certificate_only=True)
    workers = settings.web_concurrency if settings.metrics_enabled else 1
    with multiprocess_directory(workers):
        uvicorn.run(
            "todo_api.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.web_concurrency,
            log_config=_logging_config(settings),
            log_level=settings.log_level.lower(),
            **_SERVER_OPTIONS,
        )


def run(settings: Settings) -> None:
    """Migrate and serve; with no DATABASE_URL, on the embedded PostgreSQL, which is
    stopped again when the server exits (Ctrl-C). An unreachable database does not stop
    the server: it says so and serves anyway, answering 503 until the database is back
    (and `todo-api migrate` has run)."""
    if settings.database_url is not None:
        try:
            migrate(settings)
        except DatabaseUnreachable as exc:
            logger.error(  # the reason is in the message; no traceback
                "%s. Serving anyway: requests answer 503 and /health/ready stays 503 until "
                "the database answers and `todo-api migrate` has run",
                exc,
            )
        serve(settings)
        return
    logger.info(
        "No DATABASE_URL: starting the embedded PostgreSQL in %s", settings.embedded_data_dir
    )
    with EmbeddedPostgres(settings.embedded_data_dir) as postgres:
        postgres.create_database(EMBEDDED_DATABASE)
        url = postgres.url(EMBEDDED_DATABASE).render_as_string(hide_password=False)
        embedded = settings.model_copy(
            update={
                "database_url": SecretStr(url),
                "database_url_unpooled": None,
                "db_pooled": False,
            }
        )
        migrate(embedded)
        print(f"Todo API docs: http://{settings.host}:{settings.port}/docs", flush=True)  # noqa: T201
        # One process: the app object is built here, with the embedded database's URL.
        uvicorn.run(
            create_app(embedded),
            host=settings.host,
            port=settings.port,
            log_config=_logging_config(settings),
            log_level=settings.log_level.lower(),
            **_SERVER_OPTIONS,
        )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (DATABASE_URL required; no migrations)")
    migrate_parser = commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL")
    migrate_parser.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL the migrations run instead of running it (no database needed)",
    )
    migrate_parser.add_argument(
        "--from",
        dest="from_revision",
        default="base",
        metavar="REVISION",
        help="with --sql: start after this revision (default: from an empty database)",
    )
    commands.add_parser("run", help="migrate, then serve; embedded PostgreSQL without DATABASE_URL")
    arguments = parser.parse_args(argv)

    # uvicorn re-raises SIGTERM after its graceful shutdown. Turned into SystemExit instead
    # of the default "die now", it unwinds normally: the embedded database is stopped and
    # exit handlers run. The exit status stays the conventional 128 + 15.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s:     %(message)s")
    if settings.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    if arguments.command == "migrate" and arguments.sql:
        print(migration_sql(arguments.from_revision), end="")  # noqa: T201  (the output)
        return
    {"serve": serve, "migrate": _migrate_command, "run": run}[arguments.command](settings)
