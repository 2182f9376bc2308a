"""The interactive docs as a tester uses them, in a real browser, with no internet: every
script and style comes from the service itself.

Swagger UI: authorize with the API key, create a todo with "Try it out", see the 201
rendered, then list the user's todos and see it there. ReDoc: the page renders. Neither
page may load anything from another origin or break its Content-Security-Policy.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Api

USER_ID = "e2e-tester"
TITLE = "Written in a real browser"
TIMEOUT_MS = 15_000


@dataclass
class Watched:
    """A page, and what it did besides what the test asked."""

    page: Page
    origin: str
    offsite: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched(api: Api, browser: Browser) -> Iterator[Watched]:
    # `api` first: the server outlives the browser, so no keep-alive connection from the
    # browser is left open when the server shuts down.
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page, api.base_url)

    def on_request(request: object) -> None:
        url: str = request.url  # type: ignore[attr-defined]
        if not url.startswith((api.base_url + "/", "data:", "blob:")):
            watched.offsite.append(url)

    def on_console(message: object) -> None:
        text: str = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            watched.csp_violations.append(text)
        elif message.type == "error":  # type: ignore[attr-defined]
            watched.errors.append(text)

    page.on("requestfinished", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield watched
    context.close()


def operation(page: Page, method: str, path: str) -> Locator:
    """An operation's block in Swagger UI, expanded."""
    block = (
        page.locator(".opblock")
        .filter(has=page.locator(f'.opblock-summary-method:text-is("{method}")'))
        .filter(has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
    )
    block.locator(".opblock-summary").first.click()
    return block


def execute(block: Locator, expected_status: int) -> Any:
    """Press Execute, wait until Swagger UI renders a response with `expected_status`, and
    return the response body as the page shows it."""
    block.get_by_role("button", name="Execute").click()
    live = block.locator(".live-responses-table tbody .response")
    expect(live.locator(".response-col_status")).to_have_text(str(expected_status))
    return json.loads(live.locator(".microlight").first.inner_text())


def authorize(page: Page, api_key: str) -> None:
    page.get_by_role("button", name="Authorize").first.click()
    form = page.locator(".auth-container").filter(has_text="X-API-Key")
    form.locator("input").fill(api_key)
    form.get_by_role("button", name="Apply credentials").click()
    page.locator(".modal-ux").get_by_role("button", name="Close").first.click()


def test_a_tester_creates_and_lists_a_todo_in_swagger_ui(
    watched: Watched, api: Api, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{api.base_url}/docs")
    expect(page.locator(".info .title")).to_contain_text("Todo API")

    create = operation(page, "POST", "/api/v1/users/{user_id}/todos")
    create.get_by_role("button", name="Try it out").click()
    create.locator('input[placeholder="user_id"]').fill(USER_ID)
    create.locator("textarea.body-param__text").fill(json.dumps({"title": TITLE}))

    # Without the key, the API refuses, and the page shows it.
    assert execute(create, 401)["error_code"] == "UNAUTHORIZED"

    authorize(page, api.api_key)
    created = execute(create, 201)
    assert (created["user_id"], created["title"]) == (USER_ID, TITLE)

    listing = operation(page, "GET", "/api/v1/users/{user_id}/todos")
    listing.get_by_role("button", name="Try it out").click()
    listing.locator('input[placeholder="user_id"]').fill(USER_ID)
    listed = execute(listing, 200)
    assert [(item["id"], item["title"]) for item in listed["items"]] == [(created["id"], TITLE)]
    expect(listing.locator(".live-responses-table")).to_contain_text(created["id"])

    page.screenshot(path=artifacts / "swagger-ui-create-and-list.png", full_page=True)
    stored = httpx.get(
        f"{api.base_url}/api/v1/users/{USER_ID}/todos/{created['id']}",
        headers={"Authorization": f"Bearer {api.api_key}"},
    )
    assert stored.json() == created
    assert watched.offsite == []
    assert watched.csp_violations == []
    # The browser reports the deliberate 401; nothing else went wrong.
    assert watched.errors == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]


def test_redoc_renders_from_the_service_alone(watched: Watched, api: Api, artifacts: Path) -> None:
    page = watched.page
    page.goto(f"{api.base_url}/redoc")
    expect(page.get_by_role("heading", name="Create a todo")).to_be_visible()
    page.get_by_placeholder("Search...").fill("complet")
    expect(page.locator('[role="search"] li, .search-results li').first).to_be_visible()

    page.screenshot(path=artifacts / "redoc.png")
    assert watched.offsite == []
    # ReDoc's footer links a logo from its vendor's CDN: the policy blocks it (and the page
    # then hides it). Nothing else may be blocked.
    assert all("cdn.redoc.ly" in violation for violation in watched.csp_violations)
    assert watched.errors == []
