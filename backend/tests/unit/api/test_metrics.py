"""GET /metrics (api/metrics.py) on the app built without a database: the token, HEAD,
METRICS_ENABLED=false, its absence from the OpenAPI document; and the database errors
that the error handlers (api/errors.py) count by kind."""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import assert_error
from tests.scrape import value
from tests.unit.asgi import client_for
from todo_api.errors import DatabaseNotMigrated
from todo_api.main import create_app
from todo_api.metrics import CONTENT_TYPE
from todo_api.settings import Settings

TOKEN = "metrics-token-0123456789"
API_KEY = "api-key-for-unit-tests-0123"


def _app(**settings: Any) -> FastAPI:
    return create_app(Settings(_env_file=None, database_url=None, **settings))


@pytest.fixture
async def guarded_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(_app(metrics_token=TOKEN)) as client:
        yield client


async def test_metrics_are_served_in_the_prometheus_text_format(
    offline_client: httpx.AsyncClient,
) -> None:
    await offline_client.get("/health")
    response = await offline_client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert value(response.text, "todo_api_http_requests_total", route="/health") == 1
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_head_answers_like_get_without_the_body(offline_client: httpx.AsyncClient) -> None:
    response = await offline_client.head("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.content == b""
    counted = (await offline_client.get("/metrics")).text
    assert value(counted, "todo_api_http_requests_total", method="HEAD", route="/metrics") == 1


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        "Bearer wrong-token-0123456789",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
    ids=["none", "empty", "scheme-only", "blank", "basic", "wrong", "longer", "shorter"],
)
async def test_with_a_token_set_a_scrape_without_it_is_a_401(
    guarded_client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await guarded_client.get("/metrics", headers=headers)

    body = assert_error(response, 401, "UNAUTHORIZED")
    assert "METRICS_TOKEN" in body["detail"]
    assert TOKEN not in response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_with_a_token_set_a_scrape_with_it_is_served(
    guarded_client: httpx.AsyncClient, scheme: str
) -> None:
    response = await guarded_client.get("/metrics", headers={"Authorization": f"{scheme} {TOKEN}"})

    assert response.status_code == 200
    assert value(response.text, "todo_api_build_info") == 1


async def test_the_token_guards_head_too(guarded_client: httpx.AsyncClient) -> None:
    without = await guarded_client.head("/metrics")
    with_token = await guarded_client.head("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (without.status_code, with_token.status_code) == (401, 200)


async def test_the_api_key_does_not_cover_metrics_and_the_token_does_not_open_the_api() -> None:
    """API_KEY guards /api only: without METRICS_TOKEN, /metrics is open (as documented)."""
    async with client_for(_app(api_key=API_KEY)) as client:
        metrics = await client.get("/metrics")
    async with client_for(_app(api_key=API_KEY, metrics_token=TOKEN)) as client:
        api = await client.get("/api/v1/nowhere", headers={"Authorization": f"Bearer {TOKEN}"})

    assert metrics.status_code == 200
    assert_error(api, 401, "UNAUTHORIZED")


async def test_with_metrics_off_the_path_is_a_404_like_any_other() -> None:
    async with client_for(_app(metrics_enabled=False, metrics_token=TOKEN)) as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert_error(response, 404, "NOT_FOUND")


def test_metrics_stay_out_of_the_openapi_document(offline_app: FastAPI) -> None:
    assert "/metrics" not in offline_app.openapi()["paths"]
    assert any(getattr(route, "path", None) == "/metrics" for route in offline_app.routes)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (ConnectionRefusedError(111, "refused"), 503, "unavailable"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), 503, "unavailable"),
        (DatabaseNotMigrated("relation todos does not exist"), 503, "unavailable"),
        (TimeoutError(), 503, "timeout"),
        (
            asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
            503,
            "timeout",
        ),
        (asyncpg.UndefinedFunctionError("function nope() does not exist"), 500, "other"),
    ],
    ids=["refused", "starting-up", "not-migrated", "pool-timeout", "statement-timeout", "bug"],
)
async def test_database_errors_are_counted_by_the_kind_of_answer_they_got(
    error: Exception, status: int, kind: str
) -> None:
    app = _app()

    @app.get("/api/v1/failing")
    async def failing() -> None:
        raise error

    async with client_for(app) as client:
        response = await client.get("/api/v1/failing")
        text = (await client.get("/metrics")).text

    assert response.status_code == status
    assert value(text, "todo_api_db_errors_total") == 1
    assert value(text, "todo_api_db_errors_total", kind=kind) == 1
    assert value(text, "todo_api_http_503_responses_total") == (1 if status == 503 else 0)
