"""OrjsonRoute: strict JSON bodies. Malformed input is a 422 rather than a 400, a 500, or a
string PostgreSQL cannot store. register_routes: routes join the app in one place, and a
registration that would silently lose a route or a dependency fails instead."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tests.helpers import assert_validation_error
from tests.unit.asgi import client_for
from todo_api.api.routing import OrjsonRoute, ShadowedRoute, register_routes, shadowed_routes
from todo_api.main import create_app
from todo_api.settings import Settings

JSON = {"content-type": "application/json"}

MALFORMED_BODIES = [
    pytest.param(b'{"title": "caf\xc3"}', id="invalid-utf8-truncated-sequence"),
    pytest.param(b'{"title": "\xff"}', id="invalid-utf8-byte"),
    pytest.param(b'{"title": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
    pytest.param(b'{"title": "\\ud800"}', id="lone-high-surrogate-escape"),
    pytest.param(b'{"title": "\\udc00"}', id="lone-low-surrogate-escape"),
    pytest.param(b'{"title": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", id="5000-deep"),
]


class Body(BaseModel):
    title: str
    extra: Any = None


@pytest.fixture
async def tiny_client() -> AsyncIterator[httpx.AsyncClient]:
    """A tiny app whose one route uses OrjsonRoute and echoes what it parsed."""
    router = APIRouter(route_class=OrjsonRoute)

    @router.post("/echo")
    async def echo(body: Body) -> dict[str, Any]:
        return {"title": body.title, "extra_type": type(body.extra).__name__}

    app = FastAPI()
    app.include_router(router)
    async with client_for(app) as client:
        yield client


async def test_well_formed_body_is_parsed(tiny_client: httpx.AsyncClient) -> None:
    response = await tiny_client.post(
        "/echo", content='{"title": "café \\u00e9 \\ud83d\\ude00"}'.encode(), headers=JSON
    )

    assert response.status_code == 200
    assert response.json()["title"] == "café é \U0001f600"


@pytest.mark.parametrize("body", MALFORMED_BODIES)
async def test_malformed_body_is_422(tiny_client: httpx.AsyncClient, body: bytes) -> None:
    response = await tiny_client.post("/echo", content=body, headers=JSON)

    assert response.status_code == 422


async def test_duplicate_keys_take_the_last_value(tiny_client: httpx.AsyncClient) -> None:
    response = await tiny_client.post(
        "/echo", content=b'{"title": "first", "title": "last"}', headers=JSON
    )

    assert response.status_code == 200
    assert response.json()["title"] == "last"


async def test_moderately_nested_body_is_parsed(tiny_client: httpx.AsyncClient) -> None:
    response = await tiny_client.post(
        "/echo", content=b'{"title": "x", "extra": ' + b"[" * 100 + b"]" * 100 + b"}", headers=JSON
    )

    assert response.status_code == 200
    assert response.json()["extra_type"] == "list"


# The API's own routes must use the strict parser too. These need no database: a body that is
# not JSON is refused before any dependency opens a connection.


@pytest.mark.parametrize("body", MALFORMED_BODIES)
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/api/v1/users/alice/todos"),
        ("PUT", "/api/v1/users/alice/todos/0f8fe0a1-7f3b-4a0e-9a43-8f1b2a3c4d5e"),
        ("PATCH", "/api/v1/users/alice/todos/0f8fe0a1-7f3b-4a0e-9a43-8f1b2a3c4d5e"),
    ],
    ids=["create", "replace", "patch"],
)
async def test_api_route_answers_malformed_body_with_422_naming_body(
    offline_client: httpx.AsyncClient, method: str, url: str, body: bytes
) -> None:
    response = await offline_client.request(method, url, content=body, headers=JSON)

    assert_validation_error(response, "body")


# --- register_routes: the one place routes join the app ---------------------------------


async def _never_called() -> None:
    """The endpoint of routes that are only registered."""


def _router_with(*paths: str) -> APIRouter:
    router = APIRouter(prefix="/api/v1/users/{user_id}/todos")
    for path in paths:
        router.add_api_route(path, _never_called, methods=["GET"])
    return router


def test_a_route_placed_after_one_that_catches_its_paths_is_refused() -> None:
    """`/stats` after `/{todo_id}` would be answered as a malformed todo id."""
    with pytest.raises(ShadowedRoute, match=r"todos/stats is unreachable behind .*\{todo_id\}"):
        register_routes(FastAPI(), [_router_with("/{todo_id}", "/stats")])


def test_the_same_routes_in_the_right_order_are_registered() -> None:
    app = FastAPI()

    register_routes(app, [_router_with("/stats", "/{todo_id}", "/{todo_id}/complete")])

    paths = [route.path for route in app.routes if isinstance(route, APIRoute)]
    assert paths[-3:] == [
        "/api/v1/users/{user_id}/todos/stats",
        "/api/v1/users/{user_id}/todos/{todo_id}",
        "/api/v1/users/{user_id}/todos/{todo_id}/complete",
    ]


def test_routes_for_different_methods_on_one_path_do_not_shadow_each_other() -> None:
    assert shadowed_routes(_router_with("/{todo_id}").routes) == []
    router = _router_with("/{todo_id}")
    router.add_api_route("/stats", _never_called, methods=["POST"])
    assert shadowed_routes(router.routes) == []


def test_app_level_dependencies_are_refused_rather_than_silently_dropped() -> None:
    async def check() -> None:
        """A dependency include_router would have handed to every route."""

    with pytest.raises(RuntimeError, match="app-level dependencies"):
        register_routes(FastAPI(dependencies=[Depends(check)]), [_router_with("/{todo_id}")])


def test_router_level_dependencies_reach_the_registered_routes() -> None:
    async def check() -> None:
        """A dependency declared on the router."""

    router = APIRouter(dependencies=[Depends(check)])
    router.add_api_route("/x", _never_called, methods=["GET"])
    app = FastAPI()

    register_routes(app, [router])

    route = next(route for route in app.routes if isinstance(route, APIRoute))
    assert [dependency.dependency for dependency in route.dependencies] == [check]


def test_no_route_of_the_served_app_is_shadowed() -> None:
    app = create_app(Settings(_env_file=None, database_url=None))

    assert shadowed_routes(app.routes) == []
