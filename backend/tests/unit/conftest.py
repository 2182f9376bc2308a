"""Fixtures for the unit tests: the real app, built without a database.

The names differ from the database-backed `app` and `client` fixtures of the parent
conftest on purpose, so a unit test can never start PostgreSQL by accident.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.asgi import client_for
from todo_api.main import create_app
from todo_api.settings import Settings


@pytest.fixture
def offline_app() -> FastAPI:
    """The app as served, with no DATABASE_URL and its lifespan not started: only the routes
    and rules that never touch the database can answer."""
    return create_app(Settings(_env_file=None, database_url=None, cors_origins=[]))


@pytest.fixture
async def offline_client(offline_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(offline_app) as client:
        yield client
