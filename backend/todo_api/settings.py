"""Configuration, read once from the environment (and an optional `.env` file).

Nothing else in the package reads `os.environ`: every knob an operator can turn is
declared here, validated at start-up, and documented in the README's table.
"""

import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
# Visible ASCII only: it must fit in an HTTP header unchanged, and be long enough not to guess.
_API_KEY = re.compile(r"[\x21-\x7e]{16,256}")
# RFC 7518, 3.2: an HS256 key must be at least as long as the hash, 256 bits.
MIN_JWT_SECRET_BYTES = 32
# http:// is accepted for the JWKS only on the loopback interface (a provider run by a test
# or on the same machine); anywhere else a man in the middle could substitute its keys.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class MissingSetting(RuntimeError):
    """A setting this command needs is not set; the message says what to do."""


class Settings(BaseSettings):
    """Every setting has a default that works for `make run` on a laptop."""

    # Settings hold secrets (DATABASE_URL, API_KEY): an invalid value is reported by its
    # setting and rule, never echoed.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "postgres://, postgresql:// or postgresql+asyncpg:// URL. Unset: `todo-api run` "
            "starts the embedded PostgreSQL under EMBEDDED_DATA_DIR."
        ),
    )
    database_url_unpooled: SecretStr | None = Field(
        default=None,
        description=(
            "A direct (not pooled) URL to the same database, for `todo-api migrate`: Neon's "
            "DATABASE_URL_UNPOOLED. Unset: migrations use DATABASE_URL."
        ),
    )
    db_pooled: bool | None = Field(
        default=None,
        description=(
            "DATABASE_URL goes through a transaction pooler (PgBouncer, Neon's -pooler "
            "endpoints). Unset or `auto`: detected from the host name."
        ),
    )
    embedded_data_dir: Path = Path(".data/postgres")
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Most connections one worker process holds; more requests queue for one.",
    )
    db_pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a request waits for a pooled connection."
    )
    db_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to establish a new database connection."
    )
    db_statement_timeout: float = Field(
        default=10.0, gt=0, description="Seconds one SQL statement may run before it is cancelled."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS; none by default.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "When set, every /api request must send it as `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>`. 16 to 256 printable ASCII characters, no spaces."
        ),
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description=(
            "Turns on JWT bearer auth with the keys of this JWKS URL (an OIDC provider's: "
            "Neon Auth, Auth0, Clerk, Keycloak): RS256, ES256 or EdDSA. https:// (http:// "
            "only on localhost). Not together with AUTH_JWT_SECRET."
        ),
    )
    auth_jwt_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Turns on JWT bearer auth with HS256 tokens signed with this secret, at least "
            "32 bytes (256 bits, RFC 7518). Not together with AUTH_JWKS_URL."
        ),
    )
    auth_issuer: str | None = Field(
        default=None, description="When set, a token's `iss` claim must equal it."
    )
    auth_audience: str | None = Field(
        default=None,
        description="When set, a token's `aud` must be or contain it; unset, any is accepted.",
    )
    auth_user_claim: str = Field(
        default="sub",
        min_length=1,
        description="The claim whose value must equal the path's user_id.",
    )
    auth_leeway: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Seconds of clock skew allowed when checking a token's exp, nbf and iat.",
    )
    require_if_match: bool = Field(
        default=False,
        description=(
            "`true`: a PUT, PATCH, DELETE, toggle or move of one todo or list without "
            "`If-Match` is refused with 428, so no client can overwrite an edit it has not seen."
        ),
    )
    tombstone_retention: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        description=(
            "How long the change feed remembers deletions, as an ISO 8601 duration (`P30D`, "
            "`PT12H`); a `since` token older than that answers 410 RESYNC_REQUIRED."
        ),
    )
    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`: uvicorn's lines and logfmt; `json`: one JSON object per line.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Serve GET /metrics (Prometheus) and record what it shows; `false`: neither.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "When set, /metrics needs `Authorization: Bearer <token>`; unset, it is open "
            "(API_KEY does not cover it). 16 to 256 printable ASCII characters, no spaces."
        ),
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(default=1, ge=1, le=64)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept the comma-separated form an operator types into an environment variable."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator(
        "database_url_unpooled",
        "api_key",
        "db_pooled",
        "auth_jwks_url",
        "auth_jwt_secret",
        "auth_issuer",
        "auth_audience",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """`NAME=` (empty or blank) means the same as leaving NAME unset, as an operator
        who clears a variable in a deployment form expects; for DB_POOLED, so does `auto`
        (the host name decides)."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        unset = {"", "auto"} if info.field_name == "db_pooled" else {""}
        if isinstance(text, str) and text.strip().lower() in unset:
            return None
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A key short enough to guess, or one that cannot travel in a header, is refused at
        start-up. The message never repeats the key."""
        if value is not None and not _API_KEY.fullmatch(value.get_secret_value()):
            raise ValueError("API_KEY must be 16 to 256 printable ASCII characters without spaces")
        return value

    @field_validator("auth_user_claim", mode="before")
    @classmethod
    def _blank_claim_is_sub(cls, value: object) -> object:
        """`AUTH_USER_CLAIM=` means the default, `sub`, like any other cleared setting."""
        if isinstance(value, str) and not value.strip():
            return "sub"
        return value.strip() if isinstance(value, str) else value

    @field_validator("auth_jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret shorter than the hash can be brute-forced offline from one token. The
        message never repeats the secret."""
        if value is not None and len(value.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"AUTH_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (256 bits, "
                "RFC 7518 section 3.2); generate one with `openssl rand -base64 48`"
            )
        return value

    @field_validator("auth_jwks_url")
    @classmethod
    def _check_jwks_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        try:
            url = urlsplit(value)
            host = url.hostname
        except ValueError:  # an unbalanced "[" or a bad port
            host = None
        if (
            not host
            or url.scheme not in {"https", "http"}
            or (url.scheme == "http" and host not in _LOOPBACK_HOSTS)
        ):
            raise ValueError(
                "AUTH_JWKS_URL must be an https:// URL (http:// only on localhost or 127.0.0.1)"
            )
        return value

    @model_validator(mode="after")
    def _check_auth(self) -> "Settings":
        """One source of keys, and no token rule that nothing would check."""
        if self.auth_jwks_url is not None and self.auth_jwt_secret is not None:
            raise ValueError(
                "Set AUTH_JWKS_URL (tokens signed by an identity provider) or AUTH_JWT_SECRET "
                "(HS256 tokens signed with a shared secret), not both"
            )
        if not self.jwt_auth_enabled:
            for name in ("auth_issuer", "auth_audience"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name.upper()} is set but JWT auth is off: set AUTH_JWKS_URL or "
                        "AUTH_JWT_SECRET too, or unset it"
                    )
        return self

    @property
    def jwt_auth_enabled(self) -> bool:
        """Whether /api requests need a JWT bearer token (AUTH_JWKS_URL or AUTH_JWT_SECRET)."""
        return self.auth_jwks_url is not None or self.auth_jwt_secret is not None

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        """`METRICS_TOKEN=` means unset, as for API_KEY."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        """The API key's rules, for the same reasons; the message never repeats the token."""
        if value is not None and not _API_KEY.fullmatch(value.get_secret_value()):
            raise ValueError(
                "METRICS_TOKEN must be 16 to 256 printable ASCII characters without spaces"
            )
        return value

    def required_database_url(self) -> str:
        """DATABASE_URL, for the commands that cannot run without one."""
        if self.database_url is None:
            raise MissingSetting(
                "DATABASE_URL is not set; set it, or use `todo-api run` for the embedded database"
            )
        return self.database_url.get_secret_value()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings` instead of patching this."""
    return Settings()
