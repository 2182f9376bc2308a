"""Turning the DATABASE_URL an operator pastes into what the async driver needs.

People copy connection strings from provider consoles (Neon's among them) and libpq
tools, so the common schemes are accepted and the libpq query parameters are translated
to asyncpg's keyword arguments:

| libpq parameter   | becomes                                                          |
| ----------------- | ---------------------------------------------------------------- |
| `sslmode`         | `ssl`: False, asyncpg's `allow`/`prefer`, or an `ssl.SSLContext`   |
| `sslrootcert`     | the CA file that context trusts (`system`: the system store)     |
| `channel_binding` | `require`: the certificate and host name are verified instead,   |
|                   | checked once at start-up (db/startup_checks.py)                  |
| `connect_timeout` | `timeout` (seconds)                                              |
| `application_name`, `options` | startup parameters (`server_settings`)                |
| `host`, `port`    | a host or Unix-socket directory, and its port                    |

A parameter that cannot be honoured, or a value that would weaken what the string asks
for, stops start-up with an error naming it. Nothing is silently dropped or downgraded.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ACCEPTED_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
ASYNC_DRIVER = "postgresql+asyncpg"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CHANNEL_BINDINGS = ("disable", "prefer", "require")
# The first label of a Neon pooled endpoint's host name ends with this.
POOLER_HOST_SUFFIX = "-pooler"
# libpq treats any connect_timeout below 2 seconds as 2.
_MIN_CONNECT_TIMEOUT = 2
_SYSTEM_TRUST_STORE = "system"
_KNOWN_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "sslmode",
        "sslrootcert",
        "channel_binding",
        "connect_timeout",
        "application_name",
        "options",
    }
)
CHANNEL_BINDING_NOTICE = (
    "channel_binding=require: asyncpg cannot do SCRAM channel binding, so the server's "
    "certificate and host name are verified instead (sslmode=verify-full, against {trust}); "
    "that defeats the same man-in-the-middle"
)


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message says why without echoing the password."""


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """One DATABASE_URL in the forms the code needs.

    `url` is the normalised URL (scheme `postgresql+asyncpg`, the libpq parameters kept as
    given): it names the dialect for Alembic and is what logs show, password masked.
    Connections are always made from `connect_kwargs`, keyword arguments for
    `asyncpg.connect`, which hold the translation (an SSL context, timeouts, startup
    parameters)."""

    url: URL
    connect_kwargs: Mapping[str, Any]
    # The host name says this is a transaction pooler (Neon's `-pooler` endpoints).
    pooler_host: bool = False
    # Said once in the log at start-up (e.g. how channel_binding is met).
    notices: tuple[str, ...] = ()
    # channel_binding=require made the connection verify the server's certificate and
    # host name, which the URL alone (libpq) would not have done: `todo-api serve` and
    # `migrate` check once at start-up that the certificate verifies
    # (db/startup_checks.py), rather than answering 503s for a setting.
    verifies_for_channel_binding: bool = False

    def describe(self) -> str:
        """Where the database is, fit for logs: the password is masked."""
        return self.url.render_as_string(hide_password=True)

    def connect_arguments(self, *, application_name: str, connect_timeout: float) -> dict[str, Any]:
        """`asyncpg.connect` keyword arguments for one kind of client (the app's pool, the
        migrations). What the URL says wins, as it would for libpq: its connect_timeout
        over `connect_timeout`, its application_name over `application_name`."""
        given: Mapping[str, str] = self.connect_kwargs.get("server_settings") or {}
        return {
            **self.connect_kwargs,
            "timeout": self.connect_kwargs.get("timeout", connect_timeout),
            "server_settings": {"application_name": application_name, **given},
        }

    def location(self) -> str:
        """Host, port and database, for messages that must not show credentials."""
        host = self.connect_kwargs.get("host") or "localhost"
        port = self.connect_kwargs.get("port") or 5432
        return f"database {self.url.database or '(default)'!r} on {host}:{port}"


def _parse(raw: str) -> URL:
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseUrlError(
            "DATABASE_URL is not a valid URL (expected postgresql://user:password@host/db)"
        ) from None
    if url.drivername not in ACCEPTED_SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL scheme {url.drivername!r} is not supported; "
            f"use one of {', '.join(s + '://' for s in ACCEPTED_SCHEMES)}"
        )
    for name, value in url.query.items():
        if name not in _KNOWN_PARAMETERS:
            # The value is not echoed: `?password=...` is a valid libpq parameter.
            raise DatabaseUrlError(
                f"DATABASE_URL parameter {name!r} is not supported; remove it, or see the "
                "connection-string parameters in specs/deploying-on-neon.md"
            )
        if not isinstance(value, str):
            raise DatabaseUrlError(f"DATABASE_URL parameter {name!r} is given more than once")
    return url.set(drivername=ASYNC_DRIVER)


def _renamed(exc: DatabaseUrlError, variable: str) -> DatabaseUrlError:
    """The same error, naming the variable the URL came from."""
    return DatabaseUrlError(str(exc).replace("DATABASE_URL", variable, 1))


def _choice(query: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in choices:
        raise DatabaseUrlError(
            f"DATABASE_URL parameter {name!r} must be one of {', '.join(choices)}"
        )
    return value


def _effective_ssl_mode(query: Mapping[str, str], notices: list[str]) -> str | None:
    """The sslmode to apply once sslrootcert and channel_binding are taken into account.
    Each may only make the connection stricter than sslmode alone; a combination that
    would need a weaker one is refused."""
    mode = _choice(query, "sslmode", SSL_MODES)
    channel_binding = _choice(query, "channel_binding", CHANNEL_BINDINGS)
    root_cert = query.get("sslrootcert")
    if root_cert == _SYSTEM_TRUST_STORE:
        # As libpq 16: the system store implies verify-full, and weaker modes are refused.
        if mode not in (None, "verify-full"):
            raise DatabaseUrlError(
                "DATABASE_URL parameter 'sslrootcert=system' requires sslmode=verify-full"
            )
        mode = "verify-full"
    elif root_cert is not None:
        if mode in ("disable", "allow", "prefer"):
            raise DatabaseUrlError(
                f"DATABASE_URL parameter 'sslrootcert' cannot be honoured with sslmode={mode}, "
                "which does not verify certificates; use verify-ca or verify-full"
            )
        if mode in (None, "require"):
            mode = "verify-ca"  # as libpq does when a root certificate is given
    if channel_binding == "require":
        if mode == "disable":
            raise DatabaseUrlError(
                "DATABASE_URL parameter 'channel_binding=require' needs SSL, "
                "but sslmode=disable turns it off"
            )
        mode = "verify-full"
        trust = "sslrootcert" if root_cert not in (None, _SYSTEM_TRUST_STORE) else None
        notices.append(CHANNEL_BINDING_NOTICE.format(trust=trust or "the system trust store"))
    return mode


def _ssl_argument(mode: str | None, root_cert: str | None) -> bool | str | ssl.SSLContext | None:
    """asyncpg's `ssl` argument for a libpq sslmode."""
    if mode is None:
        return None  # asyncpg's default, as libpq's: prefer (or PGSSLMODE)
    if mode == "disable":
        return False
    if mode in ("allow", "prefer"):
        return mode  # opportunistic and unverified, in asyncpg exactly as in libpq
    if mode == "require":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # encrypted, not authenticated (libpq's require)
        return context
    cafile = None if root_cert in (None, _SYSTEM_TRUST_STORE) else root_cert
    try:
        # No cafile: the system trust store (what a server-side service wants; libpq would
        # look for ~/.postgresql/root.crt instead).
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseUrlError(
            f"DATABASE_URL parameter 'sslrootcert': cannot load {cafile!r} "
            f"({exc.strerror or exc.__class__.__name__})"
        ) from None
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _connect_timeout(query: Mapping[str, str]) -> float | None:
    raw = query.get("connect_timeout")
    if raw is None:
        return None
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise DatabaseUrlError(
            "DATABASE_URL parameter 'connect_timeout' must be a whole number of seconds "
            "above 0 (this service never waits for a connection indefinitely)"
        )
    return float(max(seconds, _MIN_CONNECT_TIMEOUT))


def _option_words(options: str) -> list[str]:
    """`options` split as libpq splits it: on whitespace, a backslash escaping the next
    character."""
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def _check_options(options: str) -> None:
    """`options` is sent as the startup parameter libpq sends. A statement_timeout in it
    would silently fight DB_STATEMENT_TIMEOUT, so that one is refused."""
    words = _option_words(options)
    settings = [
        word.removeprefix("-c").removeprefix("--")
        for previous, word in zip(["", *words[:-1]], words, strict=True)
        if word.startswith(("-c", "--")) or previous == "-c"
    ]
    names = {setting.split("=", 1)[0].replace("-", "_").lower() for setting in settings}
    if "statement_timeout" in names:
        raise DatabaseUrlError(
            "DATABASE_URL parameter 'options' sets statement_timeout; "
            "set DB_STATEMENT_TIMEOUT instead"
        )


def _port(url: URL, query: Mapping[str, str]) -> int | None:
    raw = query.get("port")
    if raw is None:
        return url.port
    try:
        return int(raw)
    except ValueError:
        raise DatabaseUrlError("DATABASE_URL parameter 'port' must be a number") from None


def is_pooler_host(host: str | None) -> bool:
    """Whether `host` names a pooled endpoint, as Neon's `ep-...-pooler.<region>...` do."""
    if not host or host.startswith("/"):
        return False
    return host.split(".", 1)[0].endswith(POOLER_HOST_SUFFIX)


def parse_database_url(raw: str, *, variable: str = "DATABASE_URL") -> DatabaseTarget:
    """Parse and translate DATABASE_URL once, for both the migrations and the app. Errors
    name `variable`, the setting the URL came from."""
    try:
        return _translate(raw)
    except DatabaseUrlError as exc:
        if variable == "DATABASE_URL":
            raise
        raise _renamed(exc, variable) from None


def _translate(raw: str) -> DatabaseTarget:
    url = _parse(raw)
    query: dict[str, str] = {name: str(value) for name, value in url.query.items()}
    notices: list[str] = []
    mode = _effective_ssl_mode(query, notices)
    host = query.get("host") or url.host
    server_settings: dict[str, str] = {}
    if "application_name" in query:
        server_settings["application_name"] = query["application_name"]
    if "options" in query:
        _check_options(query["options"])
        server_settings["options"] = query["options"]
    connect_kwargs: dict[str, Any] = {
        "host": host,
        "port": _port(url, query),
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "ssl": _ssl_argument(mode, query.get("sslrootcert")),
        "timeout": _connect_timeout(query),
        "server_settings": server_settings or None,
    }
    return DatabaseTarget(
        url=url,
        connect_kwargs={name: value for name, value in connect_kwargs.items() if value is not None},
        pooler_host=is_pooler_host(host),
        notices=tuple(notices),
        verifies_for_channel_binding=query.get("channel_binding") == "require",
    )
