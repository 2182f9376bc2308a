"""What `todo-api migrate` and `serve` check on one connection before they start.

- **A certificate that channel_binding=require cannot accept.** asyncpg has no SCRAM
  channel binding, so `channel_binding=require` is met by verifying the server's
  certificate and host name instead (db/url.py). A URL that works with psql (libpq binds
  the channel and verifies nothing) may then name a server whose certificate does not
  verify against the trust it is given. Every connection would fail the same way, so the
  command stops with one line saying what to set, instead of serving 503s. Only a failed
  certificate verification stops it: a database that is down, refuses, or times out is
  an outage, and the service starts through outages.
- **Case folding.** Searches (`q`) and the uniqueness of list names fold case with
  PostgreSQL's `lower()`, which follows the database's default collation. On a C/POSIX
  `LC_CTYPE` it lowers ASCII only; that is said once, as a warning, naming the fix
  (specs/decisions/0019-case-folding.md).
"""

import asyncio
import logging
import ssl

import asyncpg

from todo_api.db.url import DatabaseTarget

logger = logging.getLogger("todo_api")

APPLICATION_NAME = "todo-api-startup-check"
# X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_MISMATCH, _IP_ADDRESS_MISMATCH: the chain verifies,
# but the name or address connected to is not on the certificate.
_NAME_MISMATCHES = frozenset({62, 63, 64})
# An accented capital and its small letter, escaped so the source's normalization form
# cannot matter: true where lower() knows Unicode, false where it folds ASCII only.
_CASE_FOLDING_PROBE = (
    "SELECT lower(U&'\\00C9COLE') = U&'\\00E9cole' AS folds, "
    "(SELECT datctype FROM pg_database WHERE datname = current_database()) AS ctype"
)
CASE_FOLDING_WARNING = (
    "%s lowers ASCII letters only (LC_CTYPE %s): searches (q) and list names tell 'É' from "
    "'é'. Create the database with a UTF-8 locale (Neon's default C.UTF-8; PostgreSQL 17+: "
    "LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'; or an ICU locale), see "
    "specs/decisions/0019-case-folding.md"
)


class StartupCheckFailed(Exception):
    """The database can never be used as configured; the message says what to set."""


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure in `exc` or what it wraps, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def channel_binding_message(
    target: DatabaseTarget, variable: str, failure: ssl.SSLCertVerificationError
) -> str:
    """One line: what failed, against what, and what to set."""
    root_cert = target.url.query.get("sslrootcert")
    own_ca = isinstance(root_cert, str) and root_cert != "system"
    trust = f"sslrootcert {root_cert}" if own_ca else "the system trust store"
    reason = (failure.verify_message or str(failure)).rstrip(".")
    if failure.verify_code in _NAME_MISMATCHES:
        remedy = "connect through a host name its certificate names"
    else:
        remedy = "set sslrootcert= to the file of the CA certificate that issued it" + (
            " (sslrootcert=system if a public CA did)" if own_ca else ""
        )
    return (
        f"Cannot start: {variable} has channel_binding=require, which this service meets by "
        f"verifying the server's certificate and host name (sslmode=verify-full), and the "
        f"certificate of {target.location()} does not verify against {trust} ({reason}). "
        f"To fix it, {remedy}; or set channel_binding=prefer to connect encrypted without "
        "verifying the server, as libpq's sslmode=require does"
    )


async def _check(
    target: DatabaseTarget, *, connect_timeout: float, variable: str, certificate_only: bool
) -> BaseException | None:
    arguments = target.connect_arguments(
        application_name=APPLICATION_NAME, connect_timeout=connect_timeout
    )
    try:
        # No named prepared statements: this may be a transaction pooler.
        connection = await asyncpg.connect(**arguments, statement_cache_size=0)
    except Exception as exc:
        failure = certificate_failure(exc)
        if failure is not None and target.verifies_for_channel_binding:
            raise StartupCheckFailed(channel_binding_message(target, variable, failure)) from None
        return exc
    try:
        if not certificate_only:
            row = await connection.fetchrow(_CASE_FOLDING_PROBE, timeout=connect_timeout)
            if row is not None and not row["folds"]:
                logger.warning(CASE_FOLDING_WARNING, target.location(), row["ctype"])
    except Exception as exc:  # the database went away meanwhile: an outage, not a finding
        return exc
    finally:
        try:
            await connection.close(timeout=connect_timeout)
        except Exception:  # closing a connection that broke
            connection.terminate()
    return None


def check_database(
    target: DatabaseTarget,
    *,
    connect_timeout: float,
    variable: str = "DATABASE_URL",
    certificate_only: bool = False,
) -> BaseException | None:
    """Connect once and check `target`. Raises StartupCheckFailed when it can never be
    used as configured (a certificate channel_binding=require cannot accept); returns the
    connect failure when the database could not be reached (the caller decides whether
    that matters), None when it was. `certificate_only` skips the case-folding probe, and
    makes no connection at all when there is no certificate to check."""
    if certificate_only and not target.verifies_for_channel_binding:
        return None
    return asyncio.run(
        _check(
            target,
            connect_timeout=connect_timeout,
            variable=variable,
            certificate_only=certificate_only,
        )
    )
