"""The docs pages and their assets come from the service itself, under a strict policy.

(Whether they work is the browser test's job: tests/e2e.)"""

import re
from pathlib import Path

import fastapi_offline
import httpx
import pytest
from fastapi import FastAPI

from tests.unit.asgi import client_for
from todo_api.api.docs import ASSETS, redoc_content_security_policy

SAME_ORIGIN_REFERENCE = re.compile(r'(?:src|href)="(/[^"]*)"')
ANY_REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')


def _directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values for name, *values in (directive.split() for directive in policy.split(";"))
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_pages_load_everything_from_this_origin(
    offline_client: httpx.AsyncClient, page: str
) -> None:
    response = await offline_client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    references = ANY_REFERENCE.findall(response.text)
    assert references
    assert references == SAME_ORIGIN_REFERENCE.findall(response.text)
    assert "<script>" not in response.text
    assert "<style" not in response.text
    assert "style=" not in response.text
    for reference in references:
        asset = await offline_client.get(reference)
        assert asset.status_code == 200, reference
        assert asset.headers["x-content-type-options"] == "nosniff"


async def test_swagger_ui_runs_under_a_policy_without_inline_code(
    offline_client: httpx.AsyncClient,
) -> None:
    response = await offline_client.get("/docs")

    policy = _directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in response.headers["content-security-policy"]


async def test_redoc_styles_run_by_a_fresh_nonce_per_page(
    offline_client: httpx.AsyncClient,
) -> None:
    first, second = [await offline_client.get("/redoc") for _ in range(2)]

    nonces = []
    for response in (first, second):
        [nonce] = re.findall(r'data-nonce="([^"]+)"', response.text)
        assert response.headers["content-security-policy"] == redoc_content_security_policy(nonce)
        assert (
            f"'nonce-{nonce}'"
            in _directives(response.headers["content-security-policy"])["style-src"]
        )
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert "unsafe" not in first.headers["content-security-policy"]


async def test_swagger_ui_never_asks_the_online_validator(
    offline_client: httpx.AsyncClient,
) -> None:
    script = await offline_client.get("/docs/swagger-init.js")

    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "validatorUrl: null" in script.text


async def test_the_assets_are_the_pinned_packages_own(offline_client: httpx.AsyncClient) -> None:
    served = await offline_client.get("/docs/static/swagger-ui-bundle.js")

    assert Path(fastapi_offline.__file__).parent / "static" == ASSETS
    assert served.content == (ASSETS / "swagger-ui-bundle.js").read_bytes()
    assert served.headers["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    ["/docs/oauth2-redirect", "/docs/static/../../main.py", "/docs/static/%2e%2e/core.py"],
)
async def test_nothing_else_is_served_under_docs(
    offline_client: httpx.AsyncClient, path: str
) -> None:
    response = await offline_client.get(path)

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


async def test_behind_a_path_prefix_the_pages_name_their_assets_with_it(
    offline_app: FastAPI,
) -> None:
    offline_app.root_path = "/todo"
    async with client_for(offline_app) as client:
        response = await client.get("/docs")

    assert SAME_ORIGIN_REFERENCE.findall(response.text) == [
        "/todo/docs/static/swagger-ui.css",
        "/todo/docs/static/favicon.png",
        "/todo/docs/static/swagger-ui-bundle.js",
        "/todo/docs/swagger-init.js",
    ]
    assert 'data-openapi-url="/todo/openapi.json"' in response.text


async def test_redoc_is_served_without_its_vendor_logo(offline_client: httpx.AsyncClient) -> None:
    """The bundle as shipped loads its footer logo from a CDN, which the policy blocks (a
    console error on every load); the served bundle shows an empty image instead."""
    shipped = (ASSETS / "redoc.standalone.js").read_text()
    served = await offline_client.get("/docs/redoc.js")

    assert served.status_code == 200
    assert served.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "https://cdn.redoc.ly/" in shipped
    assert "https://cdn.redoc.ly/" not in served.text
    assert served.text.count('"data:image/svg+xml,') == shipped.count('"data:image/svg+xml,') + 1
    assert len(served.text) - len(shipped) < 100  # nothing else changed


async def test_the_redoc_bundle_is_revalidated_by_its_etag(
    offline_client: httpx.AsyncClient,
) -> None:
    first = await offline_client.get("/docs/redoc.js")
    again = await offline_client.get(
        "/docs/redoc.js", headers={"if-none-match": first.headers["etag"]}
    )

    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_another_method_on_a_docs_asset_is_a_405_naming_get_and_head(
    offline_client: httpx.AsyncClient, method: str
) -> None:
    """The assets are static files: GET and HEAD, which `Allow` must say (it was empty)."""
    response = await offline_client.request(method, "/docs/static/swagger-ui-bundle.js")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
