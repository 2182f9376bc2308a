"""DATABASE_URL normalisation: accepted schemes, libpq parameters, and no password in errors."""

import pytest
from sqlalchemy.engine import URL

from todo_api.db.url import DatabaseUrlError, parse_database_url


def to_async_url(raw: str) -> URL:
    return parse_database_url(raw).url


PASSWORD = "Sup3r-s3cr3t"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_accepted_scheme_is_normalised_to_asyncpg(scheme: str) -> None:
    url = to_async_url(f"{scheme}://alice:{PASSWORD}@db.example:5433/todos")

    assert url.drivername == "postgresql+asyncpg"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_normalising_keeps_credentials_host_port_and_database(scheme: str) -> None:
    url = to_async_url(f"{scheme}://alice:{PASSWORD}@db.example:5433/todos")

    assert (url.username, url.password, url.host, url.port, url.database) == (
        "alice",
        PASSWORD,
        "db.example",
        5433,
        "todos",
    )


@pytest.mark.parametrize(
    ("raw", "scheme"),
    [
        pytest.param(f"mysql://alice:{PASSWORD}@db.example/todos", "mysql", id="mysql"),
        pytest.param(
            f"mysql+aiomysql://alice:{PASSWORD}@db/todos", "mysql+aiomysql", id="aiomysql"
        ),
        pytest.param("sqlite:///todos.db", "sqlite", id="sqlite"),
        pytest.param(
            f"sqlite+aiosqlite://alice:{PASSWORD}@/x.db", "sqlite+aiosqlite", id="aiosqlite"
        ),
        pytest.param(
            f"postgresql+psycopg://alice:{PASSWORD}@db/todos", "postgresql+psycopg", id="psycopg"
        ),
    ],
)
def test_other_scheme_is_refused_by_name(raw: str, scheme: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        to_async_url(raw)

    assert repr(scheme) in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"mysql://alice:{PASSWORD}@db.example/todos", id="mysql"),
        pytest.param(f"sqlite://alice:{PASSWORD}@/todos.db", id="sqlite"),
        pytest.param("garbage", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param(f"alice:{PASSWORD}@db.example/todos", id="no-scheme"),
        pytest.param(f"://alice:{PASSWORD}@db.example/todos", id="empty-scheme"),
        pytest.param(f"postgresql://alice:{PASSWORD}@db.example:port/todos", id="non-numeric-port"),
        pytest.param(
            # A password with an unescaped `@` and `:`, as pasted from a password manager.
            "postgresql://alice:p@ss:Sup3r-s3cr3t@db.example/todos",
            id="unescaped-at-in-password",
        ),
    ],
)
def test_unusable_url_raises_database_url_error_without_the_password(raw: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        to_async_url(raw)

    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
)
def test_libpq_sslmode_is_kept_in_the_normalised_url(mode: str) -> None:
    url = to_async_url(f"postgresql://alice:{PASSWORD}@db.example/todos?sslmode={mode}")

    assert dict(url.query) == {"sslmode": mode}


def test_unknown_sslmode_is_refused_by_name() -> None:
    with pytest.raises(DatabaseUrlError, match="sslmode"):
        to_async_url("postgresql://alice@db.example/todos?sslmode=sometimes")


def test_host_naming_a_socket_directory_passes_through() -> None:
    url = to_async_url("postgresql://alice@/todos?host=/var/run/postgresql")

    assert dict(url.query) == {"host": "/var/run/postgresql"}


def test_port_parameter_passes_through() -> None:
    url = to_async_url("postgresql://alice@/todos?host=/run/postgresql&port=5433")

    assert dict(url.query) == {"host": "/run/postgresql", "port": "5433"}


@pytest.mark.parametrize(
    "name", ["sslcert", "sslkey", "target_session_attrs", "gssencmode", "keepalives", "dbname"]
)
def test_unknown_parameter_is_refused_by_name(name: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        to_async_url(f"postgresql://alice@db.example/todos?{name}=x")

    assert repr(name) in str(caught.value)


def test_password_query_parameter_is_refused_without_echoing_it() -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        to_async_url(f"postgresql://alice@db.example/todos?password={PASSWORD}")

    assert PASSWORD not in str(caught.value)


def test_describe_masks_the_password() -> None:
    target = parse_database_url(
        f"postgresql://alice:{PASSWORD}@db.example:5433/todos?sslmode=require"
    )

    described = target.describe()

    assert PASSWORD not in described
    assert described == "postgresql+asyncpg://alice:***@db.example:5433/todos?sslmode=require"
