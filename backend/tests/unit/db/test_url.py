"""DATABASE_URL (db/url.py): accepted schemes, and the libpq-to-asyncpg translation
table: what each connection-string parameter becomes, what cannot be honoured (a start-up
error naming it), and no password in any error."""

import ssl
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.unit.db.connection_strings import BASE, NEON_DIRECT, NEON_POOLED, PASSWORD
from todo_api.db.url import DatabaseUrlError, is_pooler_host, parse_database_url


def to_async_url(raw: str) -> URL:
    return parse_database_url(raw).url


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


# A self-signed CA certificate (public part only), standing in for an sslrootcert file.
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUNsvlP+P2fAbgNjpkWQoQl9jwg4gwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVdG9kby1hcGkgdW5pdC10ZXN0IENBMCAXDTI2MTEyMzAzMDQy
N1oYDzIxMjYxMDMwMDMwNDI3WjAgMR4wHAYDVQQDDBV0b2RvLWFwaSB1bml0LXRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATepXrHn9qfilFvQICbcDDJ
iB4yMw7SGJE5dJg6Hjs/qnuBgaUHa/R53S2gJgJgiRIJan1w458bzduCPWAj4Kp5
o1MwUTAdBgNVHQ4EFgQUCh+QoqKIm+FWWZ8x/JEWsA1VMOIwHwYDVR0jBBgwFoAU
Ch+QoqKIm+FWWZ8x/JEWsA1VMOIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAxKjyb7uyeeB95wznCwNIEFz/aFwEQMx9DRC9PT+CNG0CIFGM7TNb
xjE3aRwjX4WLP6jXz76S+X2DNzUa3XGkLH+G
-----END CERTIFICATE-----
"""


@pytest.fixture
def root_cert(tmp_path: Path) -> str:
    path = tmp_path / "root.crt"
    path.write_text(TEST_CA)
    return str(path)


def _ssl(raw: str) -> Any:
    return parse_database_url(raw).connect_kwargs.get("ssl", "unset")


def _context(raw: str) -> ssl.SSLContext:
    context = _ssl(raw)
    assert isinstance(context, ssl.SSLContext)
    return context


def _trusted_subjects(context: ssl.SSLContext) -> list[str]:
    return [str(cert["subject"]) for cert in context.get_ca_certs()]


# --- A Neon string, verbatim ----------------------------------------------------------


def test_a_neon_pooled_string_works_verbatim() -> None:
    target = parse_database_url(NEON_POOLED)

    kwargs = target.connect_kwargs
    assert (kwargs["host"], kwargs["user"], kwargs["password"], kwargs["database"]) == (
        "ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech",
        "alex",
        PASSWORD,
        "neondb",
    )
    assert "port" not in kwargs  # asyncpg's default, 5432, as libpq's
    assert target.pooler_host
    context = kwargs["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_neon_direct_string_is_not_pooled() -> None:
    assert not parse_database_url(NEON_DIRECT).pooler_host


@pytest.mark.parametrize(
    ("host", "pooled"),
    [
        ("ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech", True),
        ("ep-cool-name-123456.eu-central-1.aws.neon.tech", False),
        ("pooler.example.com", False),
        ("db.example-pooler.com", False),
        ("/var/run/postgresql", False),
        (None, False),
    ],
)
def test_pooled_endpoints_are_recognised_by_the_first_label_of_the_host(
    host: str | None, pooled: bool
) -> None:
    assert is_pooler_host(host) is pooled


# --- sslmode ------------------------------------------------------------------------------


def test_no_sslmode_leaves_asyncpg_and_libpq_default_prefer() -> None:
    assert _ssl(BASE) == "unset"


@pytest.mark.parametrize(
    ("mode", "expected"), [("disable", False), ("allow", "allow"), ("prefer", "prefer")]
)
def test_unverified_modes_keep_asyncpg_semantics(mode: str, expected: object) -> None:
    assert _ssl(f"{BASE}?sslmode={mode}") == expected


def test_require_encrypts_without_verifying_as_libpq() -> None:
    context = _context(f"{BASE}?sslmode=require")

    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_verify_ca_checks_the_chain_but_not_the_host_name() -> None:
    context = _context(f"{BASE}?sslmode=verify-ca")

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname


def test_verify_full_checks_the_chain_and_the_host_name_against_the_system_store() -> None:
    context = _context(f"{BASE}?sslmode=verify-full")

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs() == ssl.create_default_context().get_ca_certs()


# --- sslrootcert --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_sslrootcert_is_the_only_trust_anchor(mode: str, root_cert: str) -> None:
    context = _context(f"{BASE}?sslmode={mode}&sslrootcert={root_cert}")

    assert _trusted_subjects(context) == [str(((("commonName", "todo-api unit-test CA"),),))]
    assert context.check_hostname is (mode == "verify-full")


@pytest.mark.parametrize("query", ["sslmode=require&", ""])
def test_sslrootcert_with_require_or_no_sslmode_verifies_the_chain_as_libpq(
    query: str, root_cert: str
) -> None:
    context = _context(f"{BASE}?{query}sslrootcert={root_cert}")

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_sslrootcert_with_a_mode_that_never_verifies_is_refused(mode: str, root_cert: str) -> None:
    with pytest.raises(DatabaseUrlError, match="'sslrootcert'"):
        parse_database_url(f"{BASE}?sslmode={mode}&sslrootcert={root_cert}")


def test_an_unreadable_sslrootcert_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match="'sslrootcert'"):
        parse_database_url(f"{BASE}?sslmode=verify-full&sslrootcert={tmp_path}/missing.crt")


def test_an_sslrootcert_that_is_not_a_certificate_is_refused_by_name(tmp_path: Path) -> None:
    garbage = tmp_path / "root.crt"
    garbage.write_text("not a certificate")

    with pytest.raises(DatabaseUrlError, match="'sslrootcert'"):
        parse_database_url(f"{BASE}?sslmode=verify-full&sslrootcert={garbage}")


@pytest.mark.parametrize("query", ["sslrootcert=system", "sslmode=verify-full&sslrootcert=system"])
def test_sslrootcert_system_means_verify_full_against_the_system_store(query: str) -> None:
    context = _context(f"{BASE}?{query}")

    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_sslrootcert_system_with_a_weaker_mode_is_refused() -> None:
    with pytest.raises(DatabaseUrlError, match="sslrootcert=system"):
        parse_database_url(f"{BASE}?sslmode=require&sslrootcert=system")


# --- channel_binding ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "allow", "prefer", "require", "verify-ca", "verify-full"])
def test_channel_binding_require_verifies_the_certificate_and_host_name(mode: str | None) -> None:
    query = f"sslmode={mode}&" if mode else ""
    target = parse_database_url(f"{BASE}?{query}channel_binding=require")

    context = target.connect_kwargs["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert len(target.notices) == 1
    assert "channel binding" in target.notices[0]
    assert "system trust store" in target.notices[0]


def test_channel_binding_require_with_sslrootcert_trusts_only_that_ca(root_cert: str) -> None:
    target = parse_database_url(
        f"{BASE}?sslmode=require&channel_binding=require&sslrootcert={root_cert}"
    )

    context = target.connect_kwargs["ssl"]
    assert context.check_hostname
    assert len(_trusted_subjects(context)) == 1
    assert "sslrootcert" in target.notices[0]


def test_channel_binding_require_without_ssl_is_refused() -> None:
    with pytest.raises(DatabaseUrlError, match="channel_binding"):
        parse_database_url(f"{BASE}?sslmode=disable&channel_binding=require")


@pytest.mark.parametrize("value", ["disable", "prefer"])
def test_channel_binding_disable_or_prefer_changes_nothing(value: str) -> None:
    target = parse_database_url(f"{BASE}?sslmode=require&channel_binding={value}")

    assert target.connect_kwargs["ssl"].verify_mode == ssl.CERT_NONE
    assert target.notices == ()


def test_an_unknown_channel_binding_is_refused_by_name() -> None:
    with pytest.raises(DatabaseUrlError, match="'channel_binding'"):
        parse_database_url(f"{BASE}?channel_binding=sometimes")


# --- connect_timeout, application_name, options, host and port ----------------------------


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), ("2", 2.0), ("1", 2.0)])
def test_connect_timeout_becomes_asyncpg_timeout_with_libpq_minimum(
    value: str, seconds: float
) -> None:
    assert (
        parse_database_url(f"{BASE}?connect_timeout={value}").connect_kwargs["timeout"] == seconds
    )


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "soon"])
def test_a_connect_timeout_that_is_not_a_positive_whole_number_is_refused(value: str) -> None:
    with pytest.raises(DatabaseUrlError, match="'connect_timeout'"):
        parse_database_url(f"{BASE}?connect_timeout={value}")


def test_application_name_and_options_become_startup_parameters() -> None:
    target = parse_database_url(
        f"{BASE}?application_name=todo-eu&options=endpoint%3Dep-cool-name-123456"
    )

    assert target.connect_kwargs["server_settings"] == {
        "application_name": "todo-eu",
        "options": "endpoint=ep-cool-name-123456",
    }


@pytest.mark.parametrize(
    "options",
    [
        "-c statement_timeout=5s",
        "-cstatement_timeout=5000",
        "--statement-timeout=5s",
        "-c search_path=app -c STATEMENT_TIMEOUT=1",
    ],
)
def test_options_setting_statement_timeout_is_refused(options: str) -> None:
    with pytest.raises(DatabaseUrlError, match="DB_STATEMENT_TIMEOUT"):
        parse_database_url(f"{BASE}?options={options.replace(' ', '%20')}")


@pytest.mark.parametrize(
    "options", ["-c search_path=app", "-c application_name=statement_timeout_demo", r"-c x=a\ b"]
)
def test_other_options_are_sent_verbatim(options: str) -> None:
    target = parse_database_url(f"{BASE}?options={options.replace(' ', '%20')}")

    assert target.connect_kwargs["server_settings"]["options"] == options


def test_host_and_port_parameters_name_a_socket() -> None:
    kwargs = parse_database_url(
        "postgresql://alice@/todos?host=/run/postgresql&port=5434"
    ).connect_kwargs

    assert (kwargs["host"], kwargs["port"]) == ("/run/postgresql", 5434)


def test_a_port_parameter_that_is_not_a_number_is_refused_by_name() -> None:
    with pytest.raises(DatabaseUrlError, match="'port'"):
        parse_database_url("postgresql://alice@/todos?host=/run/postgresql&port=abc")


def test_a_parameter_given_twice_is_refused_by_name() -> None:
    with pytest.raises(DatabaseUrlError, match="'sslmode'"):
        parse_database_url(f"{BASE}?sslmode=require&sslmode=disable")


ERRORS = [
    f"{BASE}?sslmode=sometimes",
    f"{BASE}?sslmode=disable&channel_binding=require",
    f"{BASE}?channel_binding=maybe",
    f"{BASE}?connect_timeout=0",
    f"{BASE}?sslcert=/client.crt",
    f"{BASE}?options=-c%20statement_timeout=1",
    f"{BASE}?sslmode=prefer&sslrootcert=/root.crt",
]


@pytest.mark.parametrize("raw", ERRORS)
def test_errors_never_echo_the_password(raw: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        parse_database_url(raw)

    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("raw", ERRORS)
def test_errors_name_the_variable_the_url_came_from(raw: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        parse_database_url(raw, variable="DATABASE_URL_UNPOOLED")

    assert str(caught.value).startswith("DATABASE_URL_UNPOOLED ")


def test_location_names_host_port_and_database_but_no_credentials() -> None:
    location = parse_database_url(NEON_POOLED).location()

    assert location == (
        "database 'neondb' on ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech:5432"
    )
