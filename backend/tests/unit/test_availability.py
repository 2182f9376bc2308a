"""Classifying failures: an outage (503, retry) versus a bug (500), however it is wrapped."""

from collections.abc import Callable

import pytest
from asyncpg import exceptions as pg
from sqlalchemy import exc as sa_exc

from todo_api.db.availability import is_database_unavailable

STATEMENT = "SELECT 1"

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

# Driver errors that are about the request or the code, not the server's availability.
NON_OUTAGE_DRIVER_ERRORS = [
    pytest.param(pg.UniqueViolationError("duplicate key"), id="23505-unique-violation"),
    pytest.param(pg.UndefinedTableError('relation "todos" does not exist'), id="42P01"),
    pytest.param(pg.SerializationError("could not serialize access"), id="40001"),
]


def _dbapi_error_with_orig(orig: BaseException) -> sa_exc.DBAPIError:
    """How SQLAlchemy reports a driver error: the driver's exception is `orig`."""
    return sa_exc.OperationalError(STATEMENT, None, orig)


def _dbapi_error_caused_by(cause: BaseException) -> sa_exc.DBAPIError:
    """A DBAPIError without `orig`, raised `from` the driver error."""
    error = sa_exc.DBAPIError(STATEMENT, None, None)  # type: ignore[arg-type]
    error.__cause__ = cause
    return error


def _dbapi_error_via_adapter(cause: BaseException) -> sa_exc.DBAPIError:
    """The asyncpg dialect's shape: `orig` is an adapter error raised `from` the driver's."""
    adapter_error = Exception("adapted driver error")
    adapter_error.__cause__ = cause
    return sa_exc.DBAPIError(STATEMENT, None, adapter_error)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ConnectionRefusedError(111, "Connection refused"), id="connection-refused"),
        pytest.param(TimeoutError(), id="timeout"),
        pytest.param(sa_exc.TimeoutError("QueuePool limit reached"), id="pool-timeout"),
        pytest.param(pg.ConnectionDoesNotExistError("connection was closed"), id="08003"),
    ],
)
def test_network_and_pool_failures_are_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc) is True


@pytest.mark.parametrize("exc", OUTAGE_DRIVER_ERRORS)
def test_outage_sqlstate_is_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc) is True


@pytest.mark.parametrize("exc", OUTAGE_DRIVER_ERRORS)
def test_outage_sqlstate_wrapped_as_orig_is_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(_dbapi_error_with_orig(exc)) is True


@pytest.mark.parametrize("exc", OUTAGE_DRIVER_ERRORS)
def test_outage_sqlstate_wrapped_as_cause_is_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(_dbapi_error_caused_by(exc)) is True


@pytest.mark.parametrize("exc", OUTAGE_DRIVER_ERRORS)
def test_outage_sqlstate_behind_a_dialect_adapter_is_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(_dbapi_error_via_adapter(exc)) is True


@pytest.mark.parametrize(
    "wrap", [_dbapi_error_with_orig, _dbapi_error_caused_by], ids=["orig", "cause"]
)
def test_wrapped_connection_refused_is_unavailable(
    wrap: Callable[[BaseException], sa_exc.DBAPIError],
) -> None:
    assert is_database_unavailable(wrap(ConnectionRefusedError(111, "refused"))) is True


def test_invalidated_connection_is_unavailable_whatever_the_cause() -> None:
    error = sa_exc.DBAPIError(STATEMENT, None, ValueError("bad value"), connection_invalidated=True)

    assert is_database_unavailable(error) is True


def test_plain_value_error_is_not_unavailable() -> None:
    assert is_database_unavailable(ValueError("bad value")) is False


@pytest.mark.parametrize("exc", NON_OUTAGE_DRIVER_ERRORS)
def test_non_outage_sqlstate_is_not_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc) is False


def test_integrity_error_wrapping_a_unique_violation_is_not_unavailable() -> None:
    error = sa_exc.IntegrityError(STATEMENT, None, pg.UniqueViolationError("duplicate key"))

    assert is_database_unavailable(error) is False


@pytest.mark.parametrize("exc", NON_OUTAGE_DRIVER_ERRORS)
def test_non_outage_sqlstate_wrapped_as_cause_is_not_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(_dbapi_error_caused_by(exc)) is False


def test_cyclic_cause_chain_terminates() -> None:
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__cause__ = second
    second.__cause__ = first

    assert is_database_unavailable(first) is False
