"""Optional JWT bearer auth: with `AUTH_JWKS_URL` or `AUTH_JWT_SECRET` set, an `/api`
request must carry a valid token of the user its path names.

The claim `AUTH_USER_CLAIM` (default `sub`) of a valid `Authorization: Bearer <jwt>` must
equal the path's `user_id` (the segment after `/api/v1/users/`, as Starlette decodes it for
the route); another user's token is a 403 `FORBIDDEN`. A missing token is a 401 with
`WWW-Authenticate: Bearer realm="todo-api"`, and an invalid one (malformed, expired, not
yet valid, wrongly signed, wrong issuer or audience) a 401 with `error="invalid_token"`, as
RFC 6750, 3 and 3.1 say. With `API_KEY` set too, a request whose `X-API-Key` is the key is a
trusted service and may act for any user. specs/decisions/0013-jwt-auth.md says why.

Tokens verified once are remembered until they expire (`VerifiedTokens`), so a client
that sends the same token again costs a dictionary look-up, not a signature check. With
`AUTH_JWKS_URL`, the provider's keys are fetched on first use and kept (`JwksKeys`); an
unknown `kid` fetches them again, at most once per `JWKS_MIN_FETCH_INTERVAL`, and a
provider that is down leaves the keys already fetched in use.
"""

import asyncio
import http.client
import logging
import math
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from itertools import islice
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
import orjson
from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from todo_api import __version__
from todo_api.api.errors import forbidden, unauthorized
from todo_api.api.security import API_KEY_HEADER, PROTECTED_PREFIX, ApiKey
from todo_api.settings import Settings

logger = logging.getLogger(__name__)

REALM = "todo-api"
# Asymmetric algorithms an identity provider signs with; HS256 only with AUTH_JWT_SECRET.
JWKS_ALGORITHMS = ("RS256", "ES256", "EdDSA")
SECRET_ALGORITHM = "HS256"  # noqa: S105  (an algorithm's name, not a password)
# Seconds one JWKS download may take in all (connect, wait, read), before it counts as failed.
JWKS_TIMEOUT = 3.0
# Seconds after a successful download before the keys are fetched again, in the background
# (the request that notices is served with the keys it has).
JWKS_MAX_AGE = 300.0
# At most one download per this many seconds after one prompted by an unknown `kid`, or
# after a failed one: a flood of tokens with made-up kids, or an outage, costs the provider
# one request per interval per process.
JWKS_MIN_FETCH_INTERVAL = 10.0
JWKS_MAX_BYTES = 1024 * 1024
_JWKS_REQUEST_HEADERS = {"Accept": "application/json", "User-Agent": f"todo-api/{__version__}"}
# Verified tokens remembered per process (bounded: oldest dropped first once full).
TOKEN_CACHE_SIZE = 4096
# Longer "tokens" are refused unparsed (real ones are well under 2 KiB).
MAX_TOKEN_LENGTH = 8192

# The user_id of a path is the segment after /api/<version>/users/, as the routes see it.
_USER_PATH = re.compile(r"/api/v[0-9]+/users/([^/]*)")
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


class TokenRejected(Exception):
    """The token is not acceptable; `detail` says why, in words a person understands."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# What each of PyJWT's errors means to the person holding the token, most specific first.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet (its nbf or iat is in the future)."),
    (jwt.InvalidSignatureError, "The token's signature is not valid."),
    (
        jwt.InvalidAlgorithmError,
        "The token is signed with an algorithm (alg) this server does not accept.",
    ),
    (jwt.InvalidIssuerError, "The token was issued by another issuer (iss)."),
    (jwt.InvalidAudienceError, "The token is meant for another audience (aud)."),
    (jwt.DecodeError, "The token is not a well-formed JWT."),
)


def _reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The token has no `{error.claim}` claim."
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "The token is not valid."


class KeySource(Protocol):
    """Where the key that verifies a token comes from, and the algorithms it may use."""

    algorithms: Sequence[str]

    async def key_for(self, header: dict[str, Any]) -> jwt.PyJWK | bytes: ...


class SharedSecret:
    """`AUTH_JWT_SECRET`: every token is HS256 with the one secret."""

    algorithms: Sequence[str] = (SECRET_ALGORITHM,)

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    async def key_for(self, header: dict[str, Any]) -> bytes:
        return self._secret


def _get(url: str, timeout: float) -> bytes:
    parts = urlsplit(url)
    connection = (
        http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    )
    deadline = time.monotonic() + timeout
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=_JWKS_REQUEST_HEADERS)
        response = connection.getresponse()
        try:
            if response.status != HTTPStatus.OK:  # a redirect too: it could lead to http://
                raise OSError(f"the JWKS URL answered {response.status} {response.reason}")
            body = bytearray()
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise OSError(f"the JWKS is larger than {JWKS_MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise TimeoutError("the JWKS took too long to arrive")
            return bytes(body)
        finally:
            response.close()
    finally:
        connection.close()


def download_jwks(url: str, timeout: float) -> bytes:
    """The JWKS document at `url`, within `timeout` seconds; blocking, so run it in a
    thread. Any failure (refused, timed out, not a 200, too large) is an `OSError` that
    says what happened."""
    try:
        return _get(url, timeout)
    except (OSError, http.client.HTTPException) as error:
        reason = f"{type(error).__name__}: {error}"
    # Raised outside the handler, so the failed response and its socket are released now
    # with the original traceback, not left to the cycle collector (a ResourceWarning).
    raise OSError(reason)


def signing_keys(document: bytes) -> dict[str, jwt.PyJWK]:
    """The keys of a JWKS this server can verify with, by `kid`: signature keys of an
    accepted algorithm. Raises `ValueError` (or PyJWT's error) when there are none."""
    data = orjson.loads(document)
    if not isinstance(data, dict):
        raise ValueError("the JWKS is not a JSON object")
    key_set = jwt.PyJWKSet.from_dict(data)
    keys = {
        key.key_id: key
        for key in key_set.keys
        if key.key_id
        and key.public_key_use in ("sig", None)
        and key.algorithm_name in JWKS_ALGORITHMS
    }
    if not keys:
        raise ValueError("the JWKS holds no RS256, ES256 or EdDSA signing key with a kid")
    return keys


class JwksKeys:
    """An identity provider's signing keys, fetched from its JWKS URL and kept.

    - The first token fetches them; later ones use the kept keys. Once they are
      `max_age` old, the next request with a known `kid` starts a download in the
      background and is served at once.
    - A token whose `kid` is not among them downloads the JWKS again (a key rotated in), at
      most once per `min_interval` after the previous such download or after a failure,
      so made-up kids cannot make this server hammer the provider. Concurrent requests wait
      for the download in flight instead of starting their own.
    - A download that fails (provider down, slow beyond `timeout`, a 500, a document with
      no usable key) keeps the keys already fetched, and is logged.

    The download is the standard library's blocking `http.client`, run in a thread so the
    event loop keeps serving.
    """

    algorithms: Sequence[str] = JWKS_ALGORITHMS

    def __init__(
        self,
        url: str,
        *,
        timeout: float = JWKS_TIMEOUT,
        max_age: float = JWKS_MAX_AGE,
        min_interval: float = JWKS_MIN_FETCH_INTERVAL,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._max_age = max_age
        self._min_interval = min_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # of the last successful download
        self._quiet_until = -math.inf  # no download prompted by a request before this
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def key_for(self, header: dict[str, Any]) -> jwt.PyJWK:
        if header.get("alg") not in JWKS_ALGORITHMS:
            # Refused before any look-up: alg "none" or HS256 must not cost a download.
            raise TokenRejected(_reason(jwt.InvalidAlgorithmError()))
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("The token's header names no signing key (kid).")
        key = self._keys.get(kid)
        if key is not None:
            self._refresh_if_old()
            return key
        async with self._lock:
            key = self._keys.get(kid)  # a download another request waited for may have it
            if key is None and time.monotonic() >= self._quiet_until:
                first = self._fetched_at is None
                succeeded = await self._fetch()
                if not (succeeded and first):
                    self._quiet_until = time.monotonic() + self._min_interval
                key = self._keys.get(kid)
        if key is None:
            raise TokenRejected(
                "The token is signed with a key the identity provider does not list."
            )
        return key

    def _refresh_if_old(self) -> None:
        now = time.monotonic()
        if (
            self._fetched_at is not None
            and now - self._fetched_at >= self._max_age
            and now >= self._quiet_until
            and self._background is None
        ):
            self._background = asyncio.create_task(self._refresh_in_background())

    async def _refresh_in_background(self) -> None:
        try:
            async with self._lock:
                if not await self._fetch():
                    self._quiet_until = time.monotonic() + self._min_interval
        finally:
            self._background = None

    async def _fetch(self) -> bool:
        """Download and keep the keys; on failure keep the old ones. Whether it worked."""
        try:
            document = await asyncio.wait_for(
                asyncio.to_thread(download_jwks, self.url, self._timeout), self._timeout
            )
            self._keys = signing_keys(document)
        # What the provider sent is untrusted: a key that fails to parse fails the download.
        except (OSError, TimeoutError, ValueError, TypeError, KeyError, jwt.PyJWTError) as error:
            logger.warning(
                "Could not fetch the signing keys from AUTH_JWKS_URL (%s); keeping the %d "
                "fetched before: %s",
                self.url,
                len(self._keys),
                str(error) or type(error).__name__,
            )
            return False
        self._fetched_at = time.monotonic()
        return True


@dataclass(frozen=True, slots=True)
class _Verified:
    user: str
    valid_until: float  # wall-clock seconds: exp plus the leeway


class VerifiedTokens:
    """Tokens whose signature and claims were checked, with their user, until they expire.

    Bounded: once full, the expired entries go, then the oldest quarter. A token
    verified once is accepted from memory until `exp` (plus the leeway), even if its key
    leaves the JWKS meanwhile."""

    def __init__(self, size: int = TOKEN_CACHE_SIZE) -> None:
        self._size = size
        self._entries: dict[str, _Verified] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def user_of(self, token: str, now: float) -> str | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry.valid_until:
            del self._entries[token]
            return None
        return entry.user

    def remember(self, token: str, user: str, valid_until: float, now: float) -> None:
        if len(self._entries) >= self._size:
            live = {t: e for t, e in self._entries.items() if e.valid_until > now}
            excess = len(live) - self._size * 3 // 4
            for old in list(islice(live, max(excess, 0))):
                del live[old]
            self._entries = live
        self._entries[token] = _Verified(user, valid_until)


class JwtVerifier:
    """Checks a token's signature, `exp`, `nbf`, `iat`, and `iss` and `aud` when
    configured, and returns its user (the `user_claim`). Remembers what it verified."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str | None,
        audience: str | None,
        user_claim: str,
        leeway: float,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._user_claim = user_claim
        self._leeway = leeway
        self._options: jwt.types.Options = {
            "require": ["exp"],
            # Unset AUTH_AUDIENCE accepts any audience (PyJWT would refuse every token
            # with an `aud`, which most providers always set).
            "verify_aud": audience is not None,
        }
        self.verified = VerifiedTokens()

    async def user_of(self, token: str) -> str:
        now = time.time()
        user = self.verified.user_of(token, now)
        if user is not None:
            return user
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected(_reason(jwt.DecodeError()))
        try:
            header = jwt.get_unverified_header(token)
            key = await self.keys.key_for(header)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(self.keys.algorithms),
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=self._options,
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(_reason(error)) from None
        user = claims.get(self._user_claim)
        if not isinstance(user, str) or not user:
            raise TokenRejected(
                f"The token has no `{self._user_claim}` claim (a non-empty string)."
            )
        self.verified.remember(token, user, float(claims["exp"]) + self._leeway, now)
        return user


def jwt_verifier(settings: Settings) -> JwtVerifier:
    """The verifier `AUTH_*` describe; only called when JWT auth is on."""
    keys: KeySource
    if settings.auth_jwt_secret is not None:
        keys = SharedSecret(settings.auth_jwt_secret.get_secret_value())
    elif settings.auth_jwks_url is not None:
        keys = JwksKeys(settings.auth_jwks_url)
    else:
        raise ValueError("JWT auth is off: neither AUTH_JWKS_URL nor AUTH_JWT_SECRET is set")
    return JwtVerifier(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        user_claim=settings.auth_user_claim,
        leeway=settings.auth_leeway,
    )


def _challenge(detail: str | None = None) -> str:
    """The `WWW-Authenticate` value of a 401 (RFC 6750, 3): no error code for a request
    without a token (3.1 says it SHOULD NOT have one), `invalid_token` for a bad one."""
    if detail is None:
        return f'Bearer realm="{REALM}"'
    # error_description allows printable ASCII but `"` and `\\` (RFC 6750, 3).
    description = _NOT_IN_DESCRIPTION.sub("'", detail)
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


def _bearer_token(headers: Headers) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme in any case), or None."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class JwtAuthMiddleware:
    """Answers 401 or 403 to an `/api` request without a valid token of the path's user,
    before anything else reads it. Installed only when JWT auth is on; with `api_key`, a
    request whose `X-API-Key` is that key passes for any user."""

    def __init__(self, app: ASGIApp, verifier: JwtVerifier, api_key: str | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self._api_key = ApiKey(api_key) if api_key is not None else None
        self._missing_token = (
            "Send a bearer token: `Authorization: Bearer <token>`."
            if api_key is None
            else "Send a bearer token (`Authorization: Bearer <token>`) or the API key "
            "(`X-API-Key: <key>`)."
        )

    async def _rejection(self, scope: Scope, path: str) -> Response | None:
        headers = Headers(scope=scope)
        if self._api_key is not None:
            presented = headers.get(API_KEY_HEADER)
            if presented is not None and self._api_key.matches(presented):
                return None
        token = _bearer_token(headers)
        if token is None:
            return unauthorized(self._missing_token, _challenge())
        try:
            user = await self.verifier.user_of(token)
        except TokenRejected as rejected:
            return unauthorized(rejected.detail, _challenge(rejected.detail))
        named = _USER_PATH.match(path)
        if named is not None and named.group(1) != user:
            return forbidden("The token is for another user than the one in the path.")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/"):
                rejection = await self._rejection(scope, path)
                if rejection is not None:
                    await rejection(scope, receive, send)
                    return
        await self.app(scope, receive, send)
