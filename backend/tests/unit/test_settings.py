"""Settings: parsing of the operator-facing forms, bounds, and the secrets (DATABASE_URL,
API_KEY)."""

from collections.abc import Callable

import pytest
from pydantic import SecretStr, ValidationError

from todo_api.settings import Settings

PASSWORD = "Sup3r-s3cr3t"
API_KEY = "unit-test-key-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the machine running the tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_cors_origins_default_to_none() -> None:
    assert Settings(_env_file=None).cors_origins == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("https://a.example", ["https://a.example"], id="one"),
        pytest.param(
            "https://a.example,https://b.example",
            ["https://a.example", "https://b.example"],
            id="two",
        ),
        pytest.param(
            " https://a.example , https://b.example ",
            ["https://a.example", "https://b.example"],
            id="spaces-trimmed",
        ),
        pytest.param("https://a.example,,", ["https://a.example"], id="empty-items-dropped"),
        pytest.param("", [], id="empty"),
        pytest.param(" , ", [], id="only-separators"),
    ],
)
def test_cors_origins_env_is_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)

    assert Settings(_env_file=None).cors_origins == expected


def test_cors_origins_keyword_list_is_kept_as_given() -> None:
    settings = Settings(_env_file=None, cors_origins=["https://a.example", "https://b.example"])

    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("debug", "DEBUG"), ("Warning", "WARNING"), ("ERROR", "ERROR"), ("critical", "CRITICAL")],
)
def test_log_level_env_is_case_insensitive(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    monkeypatch.setenv("LOG_LEVEL", raw)

    assert Settings(_env_file=None).log_level == expected


def test_unknown_log_level_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, log_level="verbose")

    assert [error["loc"] for error in caught.value.errors()] == [("log_level",)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 0),
        ("port", -1),
        ("port", 65536),
        ("db_pool_size", 0),
        ("db_pool_size", 1001),
        ("web_concurrency", 0),
        ("web_concurrency", 65),
        ("db_pool_timeout", 0),
        ("db_connect_timeout", 0),
        ("db_statement_timeout", -1),
    ],
)
def test_out_of_bounds_value_is_rejected(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **{field: value})

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", 1), ("port", 65535), ("db_pool_size", 1), ("db_pool_size", 1000)],
)
def test_value_on_the_bound_is_accepted(field: str, value: int) -> None:
    assert getattr(Settings(_env_file=None, **{field: value}), field) == value


@pytest.mark.parametrize(("name", "value"), [("PORT", "0"), ("DB_POOL_SIZE", "1001")])
def test_out_of_bounds_env_value_is_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_database_url_defaults_to_unset() -> None:
    assert Settings(_env_file=None).database_url is None


def test_database_url_env_is_a_secret_str(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = f"postgresql://alice:{PASSWORD}@db.example/todos"
    monkeypatch.setenv("DATABASE_URL", raw)

    database_url = Settings(_env_file=None).database_url

    assert isinstance(database_url, SecretStr)
    assert database_url.get_secret_value() == raw


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_database_url_password_is_hidden_when_settings_are_printed(
    monkeypatch: pytest.MonkeyPatch, render: Callable[[object], str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://alice:{PASSWORD}@db.example/todos")
    settings = Settings(_env_file=None)

    assert PASSWORD not in render(settings)
    assert PASSWORD not in render(settings.database_url)


@pytest.mark.parametrize("name", ["API_KEY", "DATABASE_URL_UNPOOLED"])
def test_auto_is_not_a_way_to_unset_a_secret(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only DB_POOLED has an `auto`; anywhere else it is a value like any other."""
    monkeypatch.setenv(name, "auto")

    if name == "API_KEY":
        with pytest.raises(ValidationError, match="16 to 256"):
            Settings(_env_file=None)
    else:
        assert Settings(_env_file=None).database_url_unpooled is not None


# --- API_KEY setting --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("short", id="too-short"),
        pytest.param("x" * 257, id="too-long"),
        pytest.param("has a space in it here", id="space"),
        pytest.param("clé-0123456789abcdef", id="non-ascii"),
        pytest.param("tab\there-0123456789", id="control"),
    ],
)
def test_an_unusable_api_key_stops_start_up_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, api_key=value)

    assert "API_KEY must be 16 to 256 printable ASCII characters" in str(raised.value)
    assert value not in str(raised.value)


def test_an_empty_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "")

    assert Settings(_env_file=None).api_key is None


def test_the_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", API_KEY)

    settings = Settings(_env_file=None)

    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)


# --- METRICS_ENABLED, METRICS_TOKEN ----------------------------------------------------------

METRICS_TOKEN = "metrics-unit-token-0123456789"


def test_metrics_are_on_and_open_by_default() -> None:
    settings = Settings(_env_file=None)

    assert settings.metrics_enabled is True
    assert settings.metrics_token is None


@pytest.mark.parametrize(("raw", "enabled"), [("false", False), ("0", False), ("true", True)])
def test_metrics_enabled_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, enabled: bool
) -> None:
    monkeypatch.setenv("METRICS_ENABLED", raw)

    assert Settings(_env_file=None).metrics_enabled is enabled


def test_metrics_enabled_refuses_what_is_not_a_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_ENABLED", "sometimes")

    with pytest.raises(ValidationError, match="metrics_enabled"):
        Settings(_env_file=None)


def test_the_metrics_token_is_a_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)

    settings = Settings(_env_file=None)

    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == METRICS_TOKEN
    assert METRICS_TOKEN not in repr(settings)


@pytest.mark.parametrize("raw", ["", "   "], ids=["empty", "blank"])
def test_an_empty_metrics_token_means_none(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("METRICS_TOKEN", raw)

    assert Settings(_env_file=None).metrics_token is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("short", id="too-short"),
        pytest.param("x" * 257, id="too-long"),
        pytest.param("has a space in it here", id="space"),
        pytest.param("jeton-é-0123456789abcdef", id="non-ascii"),
    ],
)
def test_an_unusable_metrics_token_stops_start_up_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, metrics_token=value)

    assert "METRICS_TOKEN must be 16 to 256 printable ASCII characters" in str(raised.value)
    assert value not in str(raised.value)


# --- JWT auth settings (AUTH_*) ---------------------------------------------------------

JWT_SECRET = "a-jwt-secret-of-at-least-32-bytes!!"
JWKS_URL = "https://id.example/.well-known/jwks.json"


def test_jwt_auth_is_off_by_default() -> None:
    settings = Settings(_env_file=None)

    assert settings.jwt_auth_enabled is False
    assert (settings.auth_jwks_url, settings.auth_jwt_secret) == (None, None)
    assert (settings.auth_user_claim, settings.auth_leeway) == ("sub", 30.0)


@pytest.mark.parametrize("value", ["s" * 31, "é" * 15 + "s"], ids=["31-ascii", "31-bytes-utf8"])
def test_a_jwt_secret_under_256_bits_stops_start_up_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, auth_jwt_secret=value)

    assert "AUTH_JWT_SECRET must be at least 32 bytes (256 bits" in str(raised.value)
    assert value not in str(raised.value)


def test_a_jwt_secret_of_32_bytes_turns_jwt_auth_on_and_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)

    settings = Settings(_env_file=None)

    assert settings.jwt_auth_enabled is True
    assert settings.auth_jwt_secret is not None
    assert settings.auth_jwt_secret.get_secret_value() == "s" * 32
    assert "s" * 32 not in repr(settings)


@pytest.mark.parametrize(
    "name", ["AUTH_JWKS_URL", "AUTH_JWT_SECRET", "AUTH_ISSUER", "AUTH_AUDIENCE"]
)
def test_a_blank_auth_setting_means_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "  ")

    settings = Settings(_env_file=None)

    assert getattr(settings, name.lower()) is None
    assert settings.jwt_auth_enabled is False


def test_a_blank_user_claim_means_sub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_USER_CLAIM", "")

    assert Settings(_env_file=None).auth_user_claim == "sub"


def test_both_sources_of_keys_stop_start_up_without_echoing_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_JWKS_URL", JWKS_URL)
    monkeypatch.setenv("AUTH_JWT_SECRET", JWT_SECRET)

    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)

    assert "Set AUTH_JWKS_URL" in str(raised.value)
    assert "not both" in str(raised.value)
    assert JWT_SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        JWKS_URL,
        "http://127.0.0.1:8080/jwks.json",
        "http://localhost/jwks",
        "http://[::1]:9000/jwks",
    ],
)
def test_a_jwks_url_over_https_or_on_loopback_is_accepted(url: str) -> None:
    settings = Settings(_env_file=None, auth_jwks_url=url)

    assert settings.auth_jwks_url == url
    assert settings.jwt_auth_enabled is True


@pytest.mark.parametrize(
    "url",
    [
        "http://id.example/.well-known/jwks.json",
        "ftp://id.example/jwks",
        "file:///etc/passwd",
        "id.example/jwks",
        "https://",
        "http://[::1/jwks",
    ],
)
def test_a_jwks_url_that_is_not_https_stops_start_up(url: str) -> None:
    with pytest.raises(ValidationError, match="AUTH_JWKS_URL must be an https:// URL"):
        Settings(_env_file=None, auth_jwks_url=url)


@pytest.mark.parametrize("name", ["AUTH_ISSUER", "AUTH_AUDIENCE"])
def test_an_issuer_or_audience_without_jwt_auth_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Otherwise an operator might believe tokens are checked while nothing is."""
    monkeypatch.setenv(name, "https://id.example")

    with pytest.raises(ValidationError, match=f"{name} is set but JWT auth is off"):
        Settings(_env_file=None)


def test_issuer_and_audience_with_jwt_auth_are_kept() -> None:
    settings = Settings(
        _env_file=None,
        auth_jwks_url=JWKS_URL,
        auth_issuer="https://id.example",
        auth_audience="todo",
    )

    assert (settings.auth_issuer, settings.auth_audience) == ("https://id.example", "todo")


@pytest.mark.parametrize("value", [-1, 301])
def test_a_leeway_out_of_bounds_is_rejected(value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, auth_leeway=value)

    assert [error["loc"] for error in caught.value.errors()] == [("auth_leeway",)]
