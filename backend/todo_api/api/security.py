"""The optional API key: with `API_KEY` set, every `/api` request must carry it.

It protects a public deployment while testers still pass `user_id` by hand: the key says
"may use this service", not "is this user". `/health`, `/docs`, `/redoc` and
`/openapi.json` stay open, so probes keep working and a tester can enter the key in the
docs page.
"""

import hashlib
import hmac

from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from todo_api.api.errors import unauthorized

PROTECTED_PREFIX = "/api"
API_KEY_HEADER = "X-API-Key"
_BEARER = "bearer"


def _digest(value: str) -> bytes:
    """Keys are compared as SHA-256 digests: equal length always, so `compare_digest` leaks
    neither the content nor the length of the configured key."""
    return hashlib.sha256(value.encode("latin-1", errors="replace")).digest()


def _presented_keys(headers: Headers) -> list[str]:
    """Every key the request offers: a Bearer token and an `X-API-Key` value."""
    keys = []
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == _BEARER and token.strip():
        keys.append(token.strip())
    api_key = headers.get(API_KEY_HEADER)
    if api_key:
        keys.append(api_key.strip())
    return keys


class ApiKey:
    """The configured key, kept only as its digest. `matches` compares in constant time; the
    JWT middleware (`api/jwt_auth.py`) uses it for the key in `X-API-Key`."""

    def __init__(self, api_key: str) -> None:
        self._expected = _digest(api_key)

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(_digest(presented.strip()), self._expected)


def is_protected(scope: Scope) -> bool:
    """Whether the key is required for this path (the app's own path, below any root path)."""
    # Starlette's own rule, which routing uses too: the root path is stripped only as whole
    # segments, so mounted at "/a", "/api/v1/..." stays an /api path.
    path = get_route_path(scope)
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")


class ApiKeyMiddleware:
    """Answers 401 to an `/api` request without the key, before anything else reads it.

    Installed only when `API_KEY` is set. Every presented key is compared (in constant time)
    even after a match, so timing does not tell which header was right."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._expected = _digest(api_key)

    def _accepts(self, headers: Headers) -> bool:
        accepted = False
        for key in _presented_keys(headers):
            # `|=`, not `or`: every presented key is compared, even after a match.
            accepted |= hmac.compare_digest(_digest(key), self._expected)
        return accepted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and is_protected(scope)
            and not self._accepts(Headers(scope=scope))
        ):
            await unauthorized()(scope, receive, send)
            return
        await self.app(scope, receive, send)
