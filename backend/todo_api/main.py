"""The application factory: settings in, a wired FastAPI app out.

`uvicorn --factory todo_api.main:create_app` and the tests both build the app here, so
what is tested is exactly what is served.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from todo_api import __version__
from todo_api.api import health, v1
from todo_api.api.middleware import (
    BodySizeLimitMiddleware,
    JsonBodyMiddleware,
    RequestIdMiddleware,
)
from todo_api.db.database import create_database
from todo_api.db.migrate import head_revision
from todo_api.db.url import parse_database_url
from todo_api.errors import EXCEPTION_HANDLERS, MAX_BODY_BYTES
from todo_api.settings import Settings, get_settings

DESCRIPTION = """
Todos that belong to a user. Every path names the `user_id`; a user sees only their own
todos, and another user's todo answers 404 exactly like one that does not exist.

Errors are JSON: `{"detail": ..., "error_code": ...}`, with `field_errors` on a 422.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The database pool opens with the app's lifespan and closes with it,
    so the app can be built without a database (to export the OpenAPI document)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError(
                "DATABASE_URL is not set; set it, or use `todo-api run` for the embedded database"
            )
        target = parse_database_url(settings.database_url.get_secret_value())
        app.state.database = create_database(target, settings)
        app.state.head_revision = head_revision()
        await app.state.database.open()
        try:
            yield
        finally:
            await app.state.database.close()

    app = FastAPI(
        title="Todo API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    for router in v1.routers:
        app.include_router(router)
    app.include_router(health.router)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["Location", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestIdMiddleware)
    return app
