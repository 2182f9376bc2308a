"""The application factory: settings in, a wired FastAPI app out.

`uvicorn --factory todo_api.main:create_app` and the tests both build the app here, so
what is tested is exactly what is served.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from todo_api import __version__
from todo_api.api import health, v1
from todo_api.api.docs import install_docs
from todo_api.api.errors import EXCEPTION_HANDLERS
from todo_api.api.jwt_auth import JwtAuthMiddleware, jwt_verifier
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.metrics import metrics_router
from todo_api.api.middleware import PathAndBodyChecksMiddleware, ResponseHeadersAndLogMiddleware
from todo_api.api.openapi_extras import install_openapi_extras
from todo_api.api.routing import register_routes
from todo_api.api.security import ApiKeyMiddleware
from todo_api.db.database import create_database
from todo_api.db.migrate import head_revision
from todo_api.db.url import parse_database_url
from todo_api.garbage_collection import tune_for_serving
from todo_api.metrics import Metrics
from todo_api.services.changes import purge_tombstones
from todo_api.services.idempotency import purge_expired_keys
from todo_api.services.purge import PURGE_BATCH, Purger
from todo_api.settings import Settings, get_settings

DESCRIPTION = """
Todos that belong to a user. Every path names the `user_id`; a user sees only their own
todos, and another user's todo answers 404 exactly like one that does not exist.

Errors are problem details (RFC 9457, `application/problem+json`): `type`, `title`,
`status`, `detail` and `error_code`, with `field_errors` on a 422.

Single todos and lists carry an `ETag`: send it back as `If-None-Match` (304) or
`If-Match` (412 if someone changed the item meanwhile). Creates and moves take an
`Idempotency-Key`, so a retry never does the write twice. `/changes` is the change feed.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The database pool opens with the app's lifespan and closes with it,
    so the app can be built without a database (to export the OpenAPI document)."""
    settings = settings or get_settings()
    metrics = Metrics() if settings.metrics_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        target = parse_database_url(settings.required_database_url())
        database = create_database(target, settings, metrics)
        app.state.database = database
        app.state.head_revision = head_revision()
        purger = Purger(
            {
                "idempotency keys": partial(purge_expired_keys, database, batch=PURGE_BATCH),
                "tombstones": partial(
                    purge_tombstones, database, settings.tombstone_retention, PURGE_BATCH
                ),
            }
        )
        app.state.purger = purger
        await database.open()
        tune_for_serving()
        try:
            yield
        finally:
            await purger.close()
            await database.close()
            if metrics is not None:
                metrics.forget_this_process()

    app = FastAPI(
        title="Todo API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served from this process by install_docs, not from a CDN
        redoc_url=None,
        redirect_slashes=False,  # a trailing slash is a JSON 404, not a bodyless 307
    )
    register_routes(app, (*v1.routers, health.router))
    app.state.metrics = metrics
    app.state.require_if_match = settings.require_if_match
    app.state.tombstone_retention = settings.tombstone_retention
    if metrics is not None:
        register_routes(app, (metrics_router(metrics, settings.metrics_token),))
    install_docs(app)
    install_openapi_extras(
        app, api_key_required=settings.api_key is not None, jwt_auth=settings.jwt_auth_enabled
    )
    # Middleware runs outermost first, the reverse of the order added here: the outermost
    # layer sees every response (CORS preflights and 401s included), and the API key is checked
    # before the path and body checks look at the request.
    app.add_middleware(PathAndBodyChecksMiddleware, max_body_size=MAX_BODY_BYTES)
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if settings.jwt_auth_enabled:  # a JWT of the path's user, or the key in X-API-Key
        app.add_middleware(JwtAuthMiddleware, verifier=jwt_verifier(settings), api_key=api_key)
    elif api_key is not None:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Content-Type",
                "X-Request-ID",
                "Authorization",
                "X-API-Key",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
            ],
            expose_headers=[
                "Location",
                "X-Request-ID",
                "Retry-After",
                "ETag",
                "Idempotent-Replayed",
            ],
        )
    app.add_middleware(ResponseHeadersAndLogMiddleware, metrics=metrics)
    return app
