"""The libpq-to-asyncpg translation table: what each connection-string parameter becomes,
what cannot be honoured (a start-up error naming it), and how the pool is configured for
direct and pooled (PgBouncer, Neon `-pooler`) endpoints."""

import logging
import ssl
from pathlib import Path
from typing import Any

import pytest

from todo_api.db.database import APPLICATION_NAME, create_database, pool_options
from todo_api.db.migrate import migration_connect_args
from todo_api.db.url import DatabaseUrlError, is_pooler_host, parse_database_url
from todo_api.settings import Settings

PASSWORD = "Sup3r-s3cr3t"
NEON_POOLED = (
    f"postgresql://alex:{PASSWORD}@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech"
    "/neondb?sslmode=require&channel_binding=require"
)
NEON_DIRECT = NEON_POOLED.replace("-pooler", "")
BASE = f"postgresql://alice:{PASSWORD}@db.example:5433/todos"

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


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, database_url=None, **overrides)


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


# --- The pool: direct and pooled mode -----------------------------------------------------


def test_direct_mode_caches_statements_and_sets_statement_timeout_on_the_server() -> None:
    options = pool_options(parse_database_url(NEON_DIRECT), settings(db_statement_timeout=2.5))

    assert not options.pooled
    assert options.statement_cache_size > 0
    assert options.connect_kwargs["server_settings"] == {
        "application_name": APPLICATION_NAME,
        "statement_timeout": "2500",
    }
    assert options.connect_kwargs["command_timeout"] == 2.5


def test_pooled_mode_is_detected_from_the_host() -> None:
    options = pool_options(parse_database_url(NEON_POOLED), settings(db_statement_timeout=2.5))

    assert options.pooled
    # No named statements to go missing, and no startup parameter a pooler rejects; the
    # statement timeout is the client's.
    assert options.statement_cache_size == 0
    assert options.connect_kwargs["server_settings"] == {"application_name": APPLICATION_NAME}
    assert options.connect_kwargs["command_timeout"] == 2.5


@pytest.mark.parametrize(
    ("raw", "setting", "pooled"),
    [(NEON_DIRECT, True, True), (NEON_POOLED, False, False), (NEON_POOLED, None, True)],
)
def test_db_pooled_forces_the_mode_either_way(raw: str, setting: bool | None, pooled: bool) -> None:
    assert pool_options(parse_database_url(raw), settings(db_pooled=setting)).pooled is pooled


def test_the_url_connect_timeout_wins_over_the_setting() -> None:
    target = parse_database_url(f"{BASE}?connect_timeout=9")

    assert pool_options(target, settings(db_connect_timeout=3)).connect_kwargs["timeout"] == 9
    assert (
        pool_options(parse_database_url(BASE), settings(db_connect_timeout=3)).connect_kwargs[
            "timeout"
        ]
        == 3
    )


def test_the_url_application_name_wins_over_the_default() -> None:
    target = parse_database_url(f"{BASE}?application_name=todo-eu")

    server_settings = pool_options(target, settings()).connect_kwargs["server_settings"]
    assert server_settings["application_name"] == "todo-eu"


async def test_creating_the_pool_logs_the_channel_binding_notice_once_and_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")

    database = create_database(parse_database_url(NEON_POOLED), settings())
    await database.open()  # connects lazily: nothing is sent anywhere
    await database.close()

    assert caplog.text.count("channel binding") == 1
    assert "pooled mode" in caplog.text
    assert PASSWORD not in caplog.text


def test_migrations_through_a_pooler_use_unique_statement_names() -> None:
    arguments = migration_connect_args(parse_database_url(NEON_POOLED), pooled=True)

    names = {arguments["prepared_statement_name_func"]() for _ in range(3)}
    assert len(names) == 3
    assert arguments["statement_cache_size"] == 0
    assert arguments["prepared_statement_cache_size"] == 0


def test_direct_migrations_keep_sqlalchemys_statement_handling() -> None:
    arguments = migration_connect_args(parse_database_url(NEON_DIRECT), connect_timeout=4)

    assert "prepared_statement_name_func" not in arguments
    assert arguments["timeout"] == 4
    assert arguments["server_settings"] == {"application_name": "todo-api-migrate"}
