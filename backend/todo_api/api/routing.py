"""How routes are declared and registered: the route class whose JSON bodies orjson
parses, and the one function that adds routers to the app.

The standard library parser accepts lone UTF-16 surrogates (which PostgreSQL cannot store)
and answers invalid UTF-8 or very deep nesting with a bare 400 or a recursion error. orjson
rejects all three as malformed JSON, which FastAPI then reports as an ordinary 422. It is
also several times faster.
"""

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope


class OrjsonRequest(Request):
    """A request whose `json()` is strict RFC 8259 via orjson."""

    async def json(self) -> Any:  # noqa: ANN401  (any JSON value)
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    """Hands each endpoint an `OrjsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return parse_with_orjson


UNMATCHED_ROUTE = "-"


def route_template(scope: Scope) -> str:
    """The path pattern of the route that answered (`/api/v1/users/{user_id}/todos`), never
    the path itself, which holds user ids; `-` when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class ShadowedRoute(RuntimeError):
    """A route can never be reached, because an earlier one matches all of its paths."""


def shadowed_routes(routes: Sequence[BaseRoute]) -> list[tuple[str, str]]:
    """Each `(earlier, later)` pair of route paths where the earlier route answers every
    path of the later one for some method both serve: `/todos/{todo_id}` placed before
    `/todos/stats` catches `stats` as a malformed id.

    A later route's template is itself a path the earlier route's pattern matches exactly
    when the earlier one has a parameter (or the same text) wherever the later one has
    literal text: braces are ordinary characters to `[^/]+`."""
    found = []
    for index, later in enumerate(routes):
        if not isinstance(later, Route):
            continue
        for earlier in routes[:index]:
            if (
                isinstance(earlier, Route)
                and earlier.path_regex.match(later.path)
                and (earlier.methods or set()) & (later.methods or set())
            ):
                found.append((earlier.path, later.path))
    return found


def register_routes(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add the routers' routes to the app's own list: the one place routes are registered.

    Not `include_router`, which since FastAPI 0.16x keeps each router behind a layer of its
    own that matches the path a second time on every request
    (specs/decisions/0009-performance.md). What that shortcut would silently get wrong is
    refused instead: dependencies declared on the app (which `include_router` hands down
    to each route, and this does not), and a route that an earlier one shadows. Router-level
    `dependencies=` are kept: FastAPI copies them into each route as it is declared."""
    if app.router.dependencies:
        raise RuntimeError(
            "register_routes does not hand app-level dependencies down to the routes; "
            "declare them on the routers instead"
        )
    for router in routers:
        app.router.routes.extend(router.routes)
    shadowed = shadowed_routes(app.router.routes)
    if shadowed:
        raise ShadowedRoute(
            "; ".join(f"{later} is unreachable behind {earlier}" for earlier, later in shadowed)
        )
