"""`GET /metrics`: the app's metrics in Prometheus' text format, for a scraper.

Outside the OpenAPI document: it is for the operator's Prometheus, not for API clients.
Outside API_KEY too (which covers /api only): with METRICS_TOKEN set it needs
`Authorization: Bearer <token>`, otherwise it is open, as scrape targets on a private
network usually are (specs/decisions/0014-metrics.md). HEAD works as for every GET.
"""

import hashlib
import hmac

from fastapi import APIRouter
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from todo_api.api.errors import unauthorized
from todo_api.metrics import CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"
_BEARER = "bearer"
_HOW_TO_AUTHORIZE = "Send the metrics token (METRICS_TOKEN) as `Authorization: Bearer <token>`."


def _digest(value: str) -> bytes:
    """Tokens are compared as SHA-256 digests: always of equal length, so `compare_digest`
    leaks neither the content nor the length of the configured one."""
    return hashlib.sha256(value.encode("latin-1", errors="replace")).digest()


def _presents(request: Request, expected: bytes) -> bool:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    presented = token.strip() if scheme.lower() == _BEARER else ""
    # Compared even when nothing usable was sent, so the answer takes as long either way.
    return hmac.compare_digest(_digest(presented), expected) and bool(presented)


def metrics_router(metrics: Metrics, token: SecretStr | None) -> APIRouter:
    """The router with the one route, serving `metrics`, behind `token` when there is one."""
    expected = _digest(token.get_secret_value()) if token is not None else None

    async def scrape(request: Request) -> Response:
        if expected is not None and not _presents(request, expected):
            return unauthorized(_HOW_TO_AUTHORIZE)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    router = APIRouter()
    # A FastAPI route, as every other, so the request log and the metrics name it by its
    # path (`route_template`); left out of the OpenAPI document.
    router.add_api_route(METRICS_PATH, scrape, methods=["GET"], include_in_schema=False)
    return router
