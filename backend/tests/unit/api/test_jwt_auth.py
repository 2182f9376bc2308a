"""JWT bearer auth (api/jwt_auth.py), through the app built without a database: a valid
token of the path's user gets past it (to a 404, as no route serves these paths), another
user's is a 403, anything else a 401 as RFC 6750 describes. Keys are real (RSA, P-256,
Ed25519, HS256 secrets), and the identity provider's JWKS is served by a real HTTP server
on 127.0.0.1 (tests/jwks_server.py)."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import Message, Scope

from tests.helpers import PROBLEM_JSON, problem
from tests.jwks_server import Behaviour, JwksServer, SigningKey, claims, jwks_server, new_key
from tests.unit.asgi import RecordingApp, client_for
from todo_api.api.jwt_auth import (
    JWKS_TIMEOUT,
    JwksKeys,
    JwtAuthMiddleware,
    JwtVerifier,
    SharedSecret,
    VerifiedTokens,
)
from todo_api.main import create_app
from todo_api.settings import Settings

SECRET = "unit-test-jwt-secret-0123456789-abcdef"  # 38 bytes
API_KEY = "unit-test-key-0123456789"
# Past the auth check, no route serves these paths: a 404 that needs no database.
ALICE = "/api/v1/users/alice/nowhere"
BOB = "/api/v1/users/bob/nowhere"
NO_USER = "/api/v1/nowhere"
MISSING = 'Bearer realm="todo-api"'


def invalid(description: str) -> str:
    """The challenge of a 401 for a bad token, exactly as RFC 6750, 3 spells it."""
    return f'Bearer realm="todo-api", error="invalid_token", error_description="{description}"'


def app_with(**settings: Any) -> FastAPI:
    return create_app(Settings(_env_file=None, database_url=None, **settings))


@asynccontextmanager
async def client(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app_with(**settings)) as http:
        yield http


def hs256(payload: dict[str, Any], secret: str = SECRET, **header: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=header or None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand, for what PyJWT refuses to sign (alg none, HS256 with a public
    key as the secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.digest(key, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
async def hs_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client(auth_jwt_secret=SecretStr(SECRET)) as http:
        yield http


async def assert_401(response: httpx.Response, challenge: str, detail: str) -> None:
    assert response.status_code == 401
    assert response.json() == problem(401, "UNAUTHORIZED", detail)
    assert response.headers["www-authenticate"] == challenge
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "x-request-id" in response.headers


# --- off by default ------------------------------------------------------------------------


async def test_without_auth_settings_any_user_id_is_served_without_a_token() -> None:
    settings = Settings(_env_file=None, database_url=None)
    assert settings.jwt_auth_enabled is False

    async with client() as http:
        for path in (ALICE, BOB):
            assert (await http.get(path)).status_code == 404
        assert (await http.get(ALICE, headers=bearer("not-a-jwt"))).status_code == 404


# --- HS256 (AUTH_JWT_SECRET) ---------------------------------------------------------------


async def test_a_valid_token_of_the_paths_user_gets_through(hs_client: httpx.AsyncClient) -> None:
    response = await hs_client.get(ALICE, headers=bearer(hs256(claims("alice"))))

    assert (response.status_code, response.json()["error_code"]) == (404, "NOT_FOUND")


async def test_a_valid_token_of_another_user_is_a_403(hs_client: httpx.AsyncClient) -> None:
    response = await hs_client.get(BOB, headers=bearer(hs256(claims("alice"))))

    assert response.status_code == 403
    assert response.json() == problem(
        403, "FORBIDDEN", "The token is for another user than the one in the path."
    )


async def test_a_request_without_a_token_gets_the_bare_challenge(
    hs_client: httpx.AsyncClient,
) -> None:
    """RFC 6750, 3.1: a request without any authentication gets no error code."""
    detail = "Send a bearer token: `Authorization: Bearer <token>`."
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Basic {SECRET}"}):
        await assert_401(await hs_client.get(ALICE, headers=headers), MISSING, detail)
    await assert_401(await hs_client.get(NO_USER), MISSING, detail)


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        pytest.param(
            hs256({"sub": "alice", "exp": _now() - 31}), "The token has expired.", id="expired"
        ),
        pytest.param(
            hs256({"sub": "alice", "exp": _now() + 300, "nbf": _now() + 120}),
            "The token is not valid yet (its nbf or iat is in the future).",
            id="nbf-in-the-future",
        ),
        pytest.param(
            hs256(claims("alice"), secret="another-secret-of-32-bytes-or-more!!"),
            "The token's signature is not valid.",
            id="wrong-signature",
        ),
        pytest.param("not.a.jwt", "The token is not a well-formed JWT.", id="malformed"),
        pytest.param("abc", "The token is not a well-formed JWT.", id="one-segment"),
        pytest.param(
            hs256(claims("alice"))[:-4] + "AAAA",
            "The token's signature is not valid.",
            id="tampered-signature",
        ),
        pytest.param(
            handmade({"alg": "none", "typ": "JWT"}, claims("alice"), None),
            "The token is signed with an algorithm (alg) this server does not accept.",
            id="alg-none",
        ),
        pytest.param(hs256({"sub": "alice"}), "The token has no `exp` claim.", id="no-exp"),
        pytest.param(
            hs256({"exp": _now() + 300}),
            "The token has no `sub` claim (a non-empty string).",
            id="no-sub",
        ),
        pytest.param(
            "x" * 9000, "The token is not a well-formed JWT.", id="longer-than-any-real-token"
        ),
    ],
)
async def test_a_bad_token_is_a_401_invalid_token_saying_why(
    hs_client: httpx.AsyncClient, token: str, detail: str
) -> None:
    await assert_401(await hs_client.get(ALICE, headers=bearer(token)), invalid(detail), detail)


async def test_expiry_and_nbf_allow_the_leeway(hs_client: httpx.AsyncClient) -> None:
    """30 s of clock skew by default: just expired or not quite valid yet still passes."""
    recent = hs256({"sub": "alice", "exp": _now() - 10})
    almost = hs256({"sub": "alice", "exp": _now() + 300, "nbf": _now() + 10})

    assert (await hs_client.get(ALICE, headers=bearer(recent))).status_code == 404
    assert (await hs_client.get(ALICE, headers=bearer(almost))).status_code == 404


async def test_no_leeway_with_auth_leeway_zero() -> None:
    async with client(auth_jwt_secret=SecretStr(SECRET), auth_leeway=0) as http:
        response = await http.get(ALICE, headers=bearer(hs256({"sub": "alice", "exp": _now() - 2})))

    await assert_401(response, invalid("The token has expired."), "The token has expired.")


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Verified tokens are cached, but never past their `exp`."""
    token = hs256({"sub": "alice", "exp": _now() + 1})
    async with client(auth_jwt_secret=SecretStr(SECRET), auth_leeway=0) as http:
        assert (await http.get(ALICE, headers=bearer(token))).status_code == 404
        assert (await http.get(ALICE, headers=bearer(token))).status_code == 404
        await asyncio.sleep(max(0.0, _now() + 1 - time.time()) + 1.05)
        response = await http.get(ALICE, headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."


async def test_a_remembered_token_is_still_checked_against_the_path(
    hs_client: httpx.AsyncClient,
) -> None:
    token = hs256(claims("alice"))

    assert (await hs_client.get(ALICE, headers=bearer(token))).status_code == 404
    assert (await hs_client.get(BOB, headers=bearer(token))).status_code == 403


@pytest.mark.parametrize(
    ("token_claims", "status", "detail"),
    [
        pytest.param({"iss": "https://id.example", "aud": "todo"}, 404, None, id="both-right"),
        pytest.param(
            {"iss": "https://evil.example", "aud": "todo"},
            401,
            "The token was issued by another issuer (iss).",
            id="wrong-issuer",
        ),
        pytest.param(
            {"iss": "https://id.example", "aud": "billing"},
            401,
            "The token is meant for another audience (aud).",
            id="wrong-audience",
        ),
        pytest.param(
            {"iss": "https://id.example", "aud": ["billing", "todo"]}, 404, None, id="one-of-two"
        ),
        pytest.param({"aud": "todo"}, 401, "The token has no `iss` claim.", id="no-issuer"),
        pytest.param(
            {"iss": "https://id.example"}, 401, "The token has no `aud` claim.", id="no-audience"
        ),
    ],
)
async def test_issuer_and_audience_are_checked_when_set(
    token_claims: dict[str, Any], status: int, detail: str | None
) -> None:
    settings = {"auth_issuer": "https://id.example", "auth_audience": "todo"}
    async with client(auth_jwt_secret=SecretStr(SECRET), **settings) as http:
        response = await http.get(ALICE, headers=bearer(hs256(claims("alice", **token_claims))))

    assert response.status_code == status
    if detail is not None:
        await assert_401(response, invalid(detail), detail)


async def test_without_auth_audience_a_token_for_any_audience_passes(
    hs_client: httpx.AsyncClient,
) -> None:
    token = hs256(claims("alice", aud="anything", iss="https://anyone.example"))

    assert (await hs_client.get(ALICE, headers=bearer(token))).status_code == 404


async def test_auth_user_claim_names_the_claim_that_must_be_the_user_id() -> None:
    token = hs256(claims("auth0|123", user_id="alice"))
    async with client(auth_jwt_secret=SecretStr(SECRET), auth_user_claim="user_id") as http:
        assert (await http.get(ALICE, headers=bearer(token))).status_code == 404
        assert (await http.get(BOB, headers=bearer(token))).status_code == 403
        response = await http.get(ALICE, headers=bearer(hs256(claims("alice"))))

    detail = "The token has no `user_id` claim (a non-empty string)."
    await assert_401(response, invalid(detail), detail)


async def test_the_user_id_is_compared_percent_decoded_as_the_route_sees_it(
    hs_client: httpx.AsyncClient,
) -> None:
    token = hs256(claims("al@ice+1"))

    assert (
        await hs_client.get("/api/v1/users/al%40ice%2B1/nowhere", headers=bearer(token))
    ).status_code == 404
    assert (
        await hs_client.get("/api/v1/users/al@ice+1/nowhere", headers=bearer(token))
    ).status_code == 404
    assert (
        await hs_client.get("/api/v1/users/al%40ice/nowhere", headers=bearer(token))
    ).status_code == 403


async def test_a_valid_token_is_needed_even_where_no_user_is_named(
    hs_client: httpx.AsyncClient,
) -> None:
    assert (await hs_client.get(NO_USER)).status_code == 401
    assert (await hs_client.get(NO_USER, headers=bearer(hs256(claims("bob"))))).status_code == 404


@pytest.mark.parametrize("path", ["/health", "/docs", "/redoc", "/openapi.json", "/apix"])
async def test_health_docs_and_the_document_stay_open(
    hs_client: httpx.AsyncClient, path: str
) -> None:
    assert (await hs_client.get(path)).status_code in (200, 404)


async def test_the_token_is_checked_before_the_body_is_read() -> None:
    verifier = JwtVerifier(
        SharedSecret(SECRET), issuer=None, audience=None, user_claim="sub", leeway=30
    )
    inner = RecordingApp()
    messages: list[Message] = []
    received = 0

    async def receive() -> Message:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": ALICE, "headers": []}
    await JwtAuthMiddleware(inner, verifier)(scope, receive, send)

    assert messages[0]["status"] == 401
    assert (received, inner.called) == (0, False)


# --- with API_KEY too ----------------------------------------------------------------------


@pytest.fixture
async def both_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client(auth_jwt_secret=SecretStr(SECRET), api_key=SecretStr(API_KEY)) as http:
        yield http


async def test_the_api_key_in_x_api_key_may_act_for_any_user(
    both_client: httpx.AsyncClient,
) -> None:
    for path in (ALICE, BOB, NO_USER):
        assert (await both_client.get(path, headers={"X-API-Key": API_KEY})).status_code == 404
    with_bad_token = {"X-API-Key": API_KEY, **bearer("not-a-jwt")}
    assert (await both_client.get(BOB, headers=with_bad_token)).status_code == 404


async def test_with_both_a_jwt_still_works_and_is_held_to_its_user(
    both_client: httpx.AsyncClient,
) -> None:
    token = hs256(claims("alice"))

    assert (await both_client.get(ALICE, headers=bearer(token))).status_code == 404
    assert (await both_client.get(BOB, headers=bearer(token))).status_code == 403
    wrong_key = {"X-API-Key": "wrong-key-0123456789", **bearer(token)}
    assert (await both_client.get(ALICE, headers=wrong_key)).status_code == 404
    assert (await both_client.get(BOB, headers=wrong_key)).status_code == 403


async def test_with_both_the_key_as_a_bearer_token_is_not_a_jwt(
    both_client: httpx.AsyncClient,
) -> None:
    """With JWT auth on, `Authorization: Bearer` carries only JWTs: the key goes in X-API-Key."""
    response = await both_client.get(ALICE, headers=bearer(API_KEY))

    detail = "The token is not a well-formed JWT."
    await assert_401(response, invalid(detail), detail)


async def test_with_both_a_request_with_neither_is_a_401_naming_both(
    both_client: httpx.AsyncClient,
) -> None:
    detail = (
        "Send a bearer token (`Authorization: Bearer <token>`) or the API key (`X-API-Key: <key>`)."
    )
    await assert_401(await both_client.get(ALICE), MISSING, detail)
    await assert_401(
        await both_client.get(ALICE, headers={"X-API-Key": "wrong-key-0123456789"}), MISSING, detail
    )


# --- the OpenAPI document -------------------------------------------------------------------


@pytest.mark.parametrize("with_api_key", [False, True])
async def test_the_document_declares_the_bearer_jwt_and_its_401_and_403(
    *, with_api_key: bool
) -> None:
    extra = {"api_key": SecretStr(API_KEY)} if with_api_key else {}
    async with client(auth_jwt_secret=SecretStr(SECRET), **extra) as http:
        document = (await http.get("/openapi.json")).json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerJWT"]["type"] == "http"
    assert schemes["BearerJWT"]["scheme"] == "bearer"
    assert schemes["BearerJWT"]["bearerFormat"] == "JWT"
    assert set(schemes) == ({"BearerJWT", "ApiKeyHeader"} if with_api_key else {"BearerJWT"})
    expected: list[dict[str, list[str]]] = [{"BearerJWT": []}]
    expected += [{"ApiKeyHeader": []}] if with_api_key else []
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path.startswith("/api/"):
                assert operation["security"] == expected
                assert {"401", "403"} <= set(operation["responses"])
            else:
                assert "security" not in operation


# --- JWKS (AUTH_JWKS_URL) -----------------------------------------------------------------


@pytest.fixture
def provider() -> Iterator[JwksServer]:
    with jwks_server(new_key("RS256"), new_key("ES256"), new_key("EdDSA")) as server:
        yield server


@pytest.mark.parametrize("index", [0, 1, 2], ids=["RS256", "ES256", "EdDSA"])
async def test_tokens_of_each_accepted_algorithm_pass(provider: JwksServer, index: int) -> None:
    key = provider.keys[index]
    async with client(auth_jwks_url=provider.url) as http:
        assert (await http.get(ALICE, headers=bearer(key.sign(claims("alice"))))).status_code == 404
        assert (await http.get(BOB, headers=bearer(key.sign(claims("alice"))))).status_code == 403


async def test_the_keys_are_fetched_once_and_kept(provider: JwksServer) -> None:
    async with client(auth_jwks_url=provider.url) as http:
        for user in ("alice", "bob", "carol"):
            for key in provider.keys:
                path = f"/api/v1/users/{user}/nowhere"
                response = await http.get(path, headers=bearer(key.sign(claims(user))))
                assert response.status_code == 404

    assert provider.requests == 1


async def test_a_token_of_a_key_the_provider_does_not_list_is_a_401(provider: JwksServer) -> None:
    stranger = new_key("RS256", kid=provider.keys[0].kid)  # the right kid, another key
    unlisted = new_key("RS256")
    async with client(auth_jwks_url=provider.url) as http:
        forged = await http.get(ALICE, headers=bearer(stranger.sign(claims("alice"))))
        unknown = await http.get(ALICE, headers=bearer(unlisted.sign(claims("alice"))))

    await assert_401(
        forged,
        invalid("The token's signature is not valid."),
        "The token's signature is not valid.",
    )
    detail = "The token is signed with a key the identity provider does not list."
    await assert_401(unknown, invalid(detail), detail)


async def test_an_expired_token_of_a_listed_key_is_a_401(provider: JwksServer) -> None:
    token = provider.keys[0].sign(claims("alice", lifetime=-120))
    async with client(auth_jwks_url=provider.url) as http:
        response = await http.get(ALICE, headers=bearer(token))

    await assert_401(response, invalid("The token has expired."), "The token has expired.")


@pytest.mark.parametrize(
    ("make_token", "detail"),
    [
        pytest.param(
            lambda key: hs256(claims("alice"), kid=key.kid),
            "The token is signed with an algorithm (alg) this server does not accept.",
            id="hs256-with-a-shared-secret",
        ),
        pytest.param(
            # The classic confusion: the provider's public key used as an HMAC secret.
            lambda key: handmade(
                {"alg": "HS256", "kid": key.kid},
                claims("alice"),
                key.private_key.public_key().public_bytes(
                    Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
                ),
            ),
            "The token is signed with an algorithm (alg) this server does not accept.",
            id="public-key-as-hmac-secret",
        ),
        pytest.param(
            lambda key: handmade({"alg": "none", "kid": key.kid}, claims("alice"), None),
            "The token is signed with an algorithm (alg) this server does not accept.",
            id="alg-none",
        ),
        pytest.param(
            # An ES256 token that names the RSA key's kid.
            lambda key: new_key("ES256").sign(claims("alice"), kid=key.kid),
            "The token is signed with an algorithm (alg) this server does not accept.",
            id="alg-of-another-key-type",
        ),
        pytest.param(
            lambda key: jwt.encode(claims("alice"), key.private_key, algorithm="RS256"),
            "The token's header names no signing key (kid).",
            id="no-kid",
        ),
    ],
)
async def test_with_a_jwks_only_its_keys_and_algorithms_are_accepted(
    provider: JwksServer,
    make_token: Callable[[SigningKey], str],
    detail: str,
) -> None:
    token = make_token(provider.keys[0])
    async with client(auth_jwks_url=provider.url) as http:
        response = await http.get(ALICE, headers=bearer(token))

    await assert_401(response, invalid(detail), detail)


async def test_a_rotated_in_key_is_accepted_after_one_refetch(provider: JwksServer) -> None:
    async with client(auth_jwks_url=provider.url) as http:
        before = provider.keys[0].sign(claims("alice"))
        assert (await http.get(ALICE, headers=bearer(before))).status_code == 404
        assert provider.requests == 1

        rotated = new_key("RS256")
        provider.keys = [rotated]  # the old key retired, a new one published
        response = await http.get(ALICE, headers=bearer(rotated.sign(claims("alice"))))

        assert response.status_code == 404
        assert provider.requests == 2
        # A token verified before the rotation is remembered until it expires.
        assert (await http.get(ALICE, headers=bearer(before))).status_code == 404


async def test_a_flood_of_unknown_kids_costs_the_provider_at_most_two_requests(
    provider: JwksServer,
) -> None:
    async with client(auth_jwks_url=provider.url) as http:
        good = provider.keys[0].sign(claims("alice"))
        assert (await http.get(ALICE, headers=bearer(good))).status_code == 404
        forged = [
            provider.keys[0].sign(claims("alice"), kid=os.urandom(8).hex()) for _ in range(100)
        ]

        started = time.perf_counter()
        responses = await asyncio.gather(*(http.get(ALICE, headers=bearer(t)) for t in forged))
        elapsed = time.perf_counter() - started
        sequential = [await http.get(ALICE, headers=bearer(t)) for t in forged[:20]]

    assert {r.status_code for r in responses + sequential} == {401}
    assert provider.requests <= 2
    assert elapsed < 5


async def test_with_the_provider_gone_fetched_keys_keep_working(provider: JwksServer) -> None:
    async with client(auth_jwks_url=provider.url) as http:
        assert (
            await http.get(ALICE, headers=bearer(provider.keys[0].sign(claims("alice"))))
        ).status_code == 404
        provider.stop()

        fresh = provider.keys[1].sign(claims("bob"))  # never seen, of a fetched key
        started = time.perf_counter()
        unknown = await http.get(ALICE, headers=bearer(new_key("RS256").sign(claims("alice"))))
        elapsed = time.perf_counter() - started
        assert (await http.get(BOB, headers=bearer(fresh))).status_code == 404

    assert unknown.status_code == 401
    assert (
        unknown.json()["detail"]
        == "The token is signed with a key the identity provider does not list."
    )
    assert elapsed < JWKS_TIMEOUT + 1


@pytest.mark.parametrize("behaviour", ["fail", "hang"])
async def test_a_failing_or_hanging_provider_is_a_401_within_the_timeout(
    provider: JwksServer,
    behaviour: Behaviour,
) -> None:
    async with client(auth_jwks_url=provider.url) as http:
        listed = provider.keys[0]
        assert (
            await http.get(ALICE, headers=bearer(listed.sign(claims("alice"))))
        ).status_code == 404
        provider.behaviour = behaviour

        started = time.perf_counter()
        unknown = await http.get(ALICE, headers=bearer(new_key("ES256").sign(claims("alice"))))
        elapsed = time.perf_counter() - started
        again = await http.get(ALICE, headers=bearer(new_key("ES256").sign(claims("alice"))))
        fresh = await http.get(BOB, headers=bearer(listed.sign(claims("bob"))))

    assert unknown.status_code == 401
    assert elapsed < JWKS_TIMEOUT + 1
    assert again.status_code == 401  # at once: the failure starts the quiet interval
    assert provider.requests == 2
    assert fresh.status_code == 404


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"<html>maintenance</html>", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"keys": []}', id="no-keys"),
        pytest.param(
            json.dumps({"keys": [{"kty": "oct", "k": _b64(os.urandom(32)), "kid": "s"}]}).encode(),
            id="only-a-shared-secret-key",
        ),
        pytest.param(b'{"keys": [], "padding": "' + b"x" * (1024 * 1024) + b'"}', id="over-1-mib"),
    ],
)
async def test_an_unusable_jwks_keeps_the_keys_fetched_before(
    provider: JwksServer, document: bytes
) -> None:
    listed = provider.keys[0]
    async with client(auth_jwks_url=provider.url) as http:
        assert (
            await http.get(ALICE, headers=bearer(listed.sign(claims("alice"))))
        ).status_code == 404
        provider.raw = document

        unknown = await http.get(ALICE, headers=bearer(new_key("RS256").sign(claims("alice"))))
        fresh = await http.get(BOB, headers=bearer(listed.sign(claims("bob"))))

    assert provider.requests == 2
    assert unknown.status_code == 401
    assert fresh.status_code == 404


async def test_a_jwks_without_a_kid_on_its_keys_is_not_usable() -> None:
    key = new_key("ES256")
    with jwks_server(key) as server:
        server.raw = json.dumps({"keys": [{**key.jwk, "kid": ""}]}).encode()
        async with client(auth_jwks_url=server.url) as http:
            response = await http.get(ALICE, headers=bearer(key.sign(claims("alice"))))

    assert response.status_code == 401
    assert response.json()["detail"] == (
        "The token is signed with a key the identity provider does not list."
    )


async def test_a_provider_down_from_the_start_is_a_401_not_a_500() -> None:
    with jwks_server(new_key("RS256")) as server:
        key = server.keys[0]
        url = server.url
    async with client(auth_jwks_url=url) as http:
        response = await http.get(ALICE, headers=bearer(key.sign(claims("alice"))))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="todo-api", error="invalid_token"'
    )


async def test_old_keys_are_refreshed_in_the_background_and_retired_ones_dropped(
    provider: JwksServer,
) -> None:
    """Past `max_age`, the next request is served with the keys it has and the JWKS is
    downloaded again; a key the provider no longer lists then stops verifying new tokens."""
    keys = JwksKeys(provider.url, max_age=0.2)
    verifier = JwtVerifier(keys, issuer=None, audience=None, user_claim="sub", leeway=30)
    retired: SigningKey = provider.keys[0]
    async with client_for(JwtAuthMiddleware(RecordingApp(), verifier)) as http:
        assert (
            await http.get(ALICE, headers=bearer(retired.sign(claims("alice"))))
        ).status_code == 200
        provider.keys = provider.keys[1:]
        await asyncio.sleep(0.3)
        # Served at once with the kept keys; the refresh runs behind it.
        assert (
            await http.get(ALICE, headers=bearer(retired.sign(claims("alice", jti="2"))))
        ).status_code == 200
        for _ in range(50):
            if provider.requests == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)
        response = await http.get(ALICE, headers=bearer(retired.sign(claims("alice", jti="3"))))

    assert response.status_code == 401
    # The background download, then one more for the kid it no longer lists.
    assert provider.requests == 3


def test_the_verified_token_cache_stays_bounded() -> None:
    cache = VerifiedTokens(size=8)
    now = time.time()
    for number in range(100):
        cache.remember(f"token-{number}", "alice", now + 60, now)

    assert len(cache) <= 8
    assert cache.user_of("token-99", now) == "alice"
    assert cache.user_of("token-0", now) is None
