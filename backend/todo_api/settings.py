"""Configuration, read once from the environment (and an optional `.env` file).

Nothing else in the package reads `os.environ`: every knob an operator can turn is
declared here, validated at start-up, and documented in the README's table.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class Settings(BaseSettings):
    """Every setting has a default that works for `make run` on a laptop."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "postgres://, postgresql:// or postgresql+asyncpg:// URL. Unset: `todo-api run` "
            "starts the embedded PostgreSQL under EMBEDDED_DATA_DIR."
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
    log_level: LogLevel = "INFO"
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings` instead of patching this."""
    return Settings()
