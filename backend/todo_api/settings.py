"""Configuration, read once from the environment (and an optional `.env` file).

Nothing else in the package reads `os.environ`: every knob an operator can turn is
declared here, validated at start-up, and documented in the README's table.
"""

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
# Visible ASCII only: it must fit in an HTTP header unchanged, and be long enough not to guess.
_API_KEY = re.compile(r"[\x21-\x7e]{16,256}")


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
    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`: uvicorn's lines and logfmt; `json`: one JSON object per line.",
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

    @field_validator("database_url_unpooled", "api_key", "db_pooled", mode="before")
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
