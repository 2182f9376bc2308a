"""Interactive docs served entirely by this service: `/docs` (Swagger UI) and `/redoc`.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which fails on a machine without
internet access. The JavaScript and CSS here come from the `fastapi-offline` package (which
ships both bundles) and are served under `/docs/static/`. The pages carry no inline script,
so their Content-Security-Policy forbids inline code: the Swagger UI start-up code is served
as a script of its own (`/docs/swagger-init.js`), and ReDoc's run-time styles carry a
per-response nonce.

ReDoc's bundle is served as `/docs/redoc.js`, with the one thing in it that leaves the
machine replaced: the Redocly logo in its footer, an image on the vendor's CDN, which the
policy would block (an error in the browser's console on every load).
"""

import functools
import hashlib
import secrets
from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"
SWAGGER_INIT_URL = "/docs/swagger-init.js"
REDOC_INIT_URL = "/docs/redoc-init.js"
REDOC_BUNDLE_URL = "/docs/redoc.js"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
# The logo ReDoc's footer loads from its vendor, and the empty image that replaces it.
REDOCLY_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE_URL = "data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'/%3E"


def content_security_policy(style_src: str = "'self'", *extra: str) -> str:
    """The docs pages' policy. They run only their own scripts and styles from this origin
    and call only this origin (the OpenAPI document, and "Try it out"). Swagger UI's CSS
    draws its icons as `data:` images. Nothing may frame the pages, and no form may post."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {style_src}",
            "img-src 'self' data:",
            "connect-src 'self'",
            *extra,
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


# Swagger UI needs nothing inline.
SWAGGER_CONTENT_SECURITY_POLICY = content_security_policy()


# The fixed <style> elements the ReDoc bundle inserts as it loads, before any code could
# hand it a nonce, allowed by their hashes: perfect-scrollbar's CSS, and an empty element.
# A ReDoc update that changes them shows up as a CSP violation in the browser test.
REDOC_BUNDLE_STYLE_HASHES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)


def redoc_content_security_policy(nonce: str) -> str:
    """ReDoc inserts <style> elements at run time (styled-components). They carry the page's
    nonce, which `redoc-init.js` hands to ReDoc, so no other inline style runs. Its search
    index runs in a `blob:` worker."""
    return content_security_policy(
        f"'self' 'nonce-{nonce}' {' '.join(REDOC_BUNDLE_STYLE_HASHES)}", "worker-src blob:"
    )


# Swagger UI's start-up, as FastAPI writes it inline, plus `validatorUrl: null`: by default
# Swagger UI asks validator.swagger.io to check the document, which would leave the machine.
SWAGGER_INIT_JS = """\
"use strict";
(function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""

# ReDoc's start-up: the nonce for its run-time styles comes from the page.
REDOC_INIT_JS = """\
"use strict";
(function () {
  var element = document.getElementById("redoc");
  Redoc.init(
    element.getAttribute("data-spec-url"),
    { nonce: element.getAttribute("data-nonce") },
    element
  );
})();
"""

_SWAGGER_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{root}{static}/swagger-ui.css">
<link rel="icon" href="{root}{static}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}{openapi_url}"></div>
<script src="{root}{static}/swagger-ui-bundle.js"></script>
<script src="{root}{init}"></script>
</body>
</html>
"""

_REDOC_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{root}{static}/favicon.png">
</head>
<body>
<noscript>ReDoc needs JavaScript.</noscript>
<div id="redoc" data-spec-url="{root}{openapi_url}" data-nonce="{nonce}"></div>
<script src="{root}{redoc_bundle}"></script>
<script src="{root}{redoc_init}"></script>
</body>
</html>
"""


@functools.cache
def redoc_bundle() -> bytes:
    """The ReDoc bundle with its footer logo replaced by an empty image (the `img-src`
    policy allows `data:`). A ReDoc release that moves the logo fails here, loudly, rather
    than in a browser's console."""
    source = (ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    logo = f'"{REDOCLY_LOGO_URL}"'
    if source.count(logo) != 1:
        raise RuntimeError(f"the ReDoc bundle no longer loads its logo from {REDOCLY_LOGO_URL}")
    return source.replace(logo, f'"{BLANK_IMAGE_URL}"').encode()


@functools.cache
def _redoc_bundle_etag() -> str:
    return f'"{hashlib.sha256(redoc_bundle()).hexdigest()[:32]}"'


def _page(template: str, app: FastAPI, request: Request, csp: str, nonce: str = "") -> HTMLResponse:
    html = template.format(
        title=escape(app.title),
        root=escape(request.scope.get("root_path", "")),
        static=STATIC_URL,
        init=SWAGGER_INIT_URL,
        redoc_init=REDOC_INIT_URL,
        redoc_bundle=REDOC_BUNDLE_URL,
        openapi_url=escape(app.openapi_url or ""),
        nonce=nonce,
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def install_docs(app: FastAPI) -> None:
    """Serve `/docs`, `/redoc` and their assets from this process. The app must be built
    with `docs_url=None, redoc_url=None`, so FastAPI's CDN pages are not served as well."""
    app.mount(STATIC_URL, StaticFiles(directory=ASSETS), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _page(_SWAGGER_PAGE, app, request, SWAGGER_CONTENT_SECURITY_POLICY)

    @app.get(SWAGGER_INIT_URL, include_in_schema=False)
    async def swagger_init() -> Response:
        return Response(SWAGGER_INIT_JS, media_type="text/javascript")

    @app.get(REDOC_INIT_URL, include_in_schema=False)
    async def redoc_init() -> Response:
        return Response(REDOC_INIT_JS, media_type="text/javascript")

    @app.get(REDOC_BUNDLE_URL, include_in_schema=False)
    async def redoc_script(request: Request) -> Response:
        # Revalidated on each load, like the static assets: a new ReDoc shows up at once.
        etag = _redoc_bundle_etag()
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(redoc_bundle(), media_type="text/javascript", headers=headers)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        return _page(_REDOC_PAGE, app, request, redoc_content_security_policy(nonce), nonce)
