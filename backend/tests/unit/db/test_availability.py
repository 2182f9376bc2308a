"""Classifying failures: an outage (503, retry) versus a bug (500), however it is wrapped."""

import socket

import pytest
from asyncpg import exceptions as pg

from todo_api.db.availability import is_database_unavailable

# Driver errors that mean "the server cannot serve us right now", by SQLSTATE.
OUTAGE_DRIVER_ERRORS = [
    pytest.param(pg.ConnectionFailureError("connection failure"), id="08006-connection-failure"),
    pytest.param(pg.CannotConnectNowError("the database system is starting up"), id="57P03"),
    pytest.param(pg.TooManyConnectionsError("too many clients already"), id="53300"),
    pytest.param(pg.QueryCanceledError("canceling statement due to timeout"), id="57014"),
    pytest.param(pg.InvalidPasswordError("password authentication failed"), id="28P01"),
    pytest.param(pg.InvalidCatalogNameError('database "todo" does not exist'), id="3D000"),
    pytest.param(pg.AdminShutdownError("terminating connection"), id="57P01"),
]

# Network failures as the driver and asyncio raise them.
NETWORK_FAILURES = [
    pytest.param(ConnectionRefusedError(111, "Connection refused"), id="connection-refused"),
    pytest.param(socket.gaierror(-2, "Name or service not known"), id="unknown-host"),
    pytest.param(FileNotFoundError(2, "No such file or directory"), id="unix-socket-gone"),
    pytest.param(OSError("Multiple exceptions: ..."), id="all-addresses-failed"),
    pytest.param(TimeoutError(), id="connect-or-pool-timeout"),
    pytest.param(pg.ConnectionDoesNotExistError("connection was closed"), id="closed-mid-query"),
]

# Driver errors that are about the request or the code, not the server's availability.
NON_OUTAGE_ERRORS = [
    pytest.param(pg.UniqueViolationError("duplicate key"), id="23505-unique-violation"),
    pytest.param(pg.UndefinedTableError('relation "todos" does not exist'), id="42P01"),
    pytest.param(pg.SerializationError("could not serialize access"), id="40001"),
    pytest.param(pg.InterfaceError("cannot perform operation"), id="interface-error"),
    pytest.param(ValueError("bad value"), id="value-error"),
    pytest.param(RuntimeError("bug"), id="runtime-error"),
]


def _raised_from(cause: BaseException) -> BaseException:
    """How a layer above the driver reports its failure: `raise ... from cause`."""
    error = RuntimeError("request failed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("exc", [*NETWORK_FAILURES, *OUTAGE_DRIVER_ERRORS])
def test_outages_are_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc) is True


@pytest.mark.parametrize("exc", [*NETWORK_FAILURES, *OUTAGE_DRIVER_ERRORS])
def test_outages_are_found_behind_other_exceptions(exc: BaseException) -> None:
    assert is_database_unavailable(_raised_from(_raised_from(exc))) is True


@pytest.mark.parametrize("exc", NON_OUTAGE_ERRORS)
def test_other_failures_are_not_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc) is False
    assert is_database_unavailable(_raised_from(exc)) is False


def test_a_cause_chain_with_a_cycle_is_walked_once() -> None:
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__cause__ = second
    second.__cause__ = first

    assert is_database_unavailable(first) is False
