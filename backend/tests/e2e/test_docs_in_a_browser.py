"""The interactive docs as a tester uses them, in a real browser, with no internet: every
script and style comes from the service itself.

Swagger UI: "Try it out" starts from the documented example (the same on every load),
authorize with the API key, create a todo, see the 201 rendered, then list the user's todos
and see it there. ReDoc: the page renders, with the same example. On neither page may the
browser report anything wrong: no console error (a blocked resource or a broken
Content-Security-Policy is one), no failed or blocked request, no request to another
origin, no uncaught exception.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request, expect

from tests.e2e.conftest import Api

USER_ID = "e2e-tester"
TITLE = "Written in a real browser"
TIMEOUT_MS = 15_000
# The request body Swagger UI's "Try it out" starts from: the schema's examples.
# What "Try it out" fills in for a new todo: the documented example of every field.
EXAMPLE_TODO = {
    "title": "Buy milk",
    "description": "2 litres, semi-skimmed",
    "is_completed": False,
    "priority": "high",
    "due_at": "2026-11-27T17:00:00Z",
    "tags": ["errands", "home"],
    "list_id": None,
}
# A policy violation is also a console error; this makes sure of it, whatever the wording.
REPORT_POLICY_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@dataclass
class Watched:
    """A page, and what the browser reported while the test used it."""

    page: Page
    origin: str
    offsite: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched(api: Api, browser: Browser) -> Iterator[Watched]:
    # `api` first: the server outlives the browser, so no keep-alive connection from the
    # browser is left open when the server shuts down.
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    context.add_init_script(REPORT_POLICY_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page, api.base_url)

    def on_request(request: Request) -> None:
        if not request.url.startswith((api.base_url + "/", "data:", "blob:")):
            watched.offsite.append(request.url)

    def on_request_failed(request: Request) -> None:
        watched.failed_requests.append(f"{request.url}: {request.failure}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    page.on("request", on_request)
    page.on("requestfailed", on_request_failed)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    yield watched
    context.close()


def assert_nothing_went_wrong(watched: Watched, *expected_console_errors: str) -> None:
    """The browser reported nothing but `expected_console_errors`, in that order."""
    assert watched.offsite == []
    assert watched.failed_requests == []
    assert watched.page_errors == []
    assert watched.console_errors == list(expected_console_errors)


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
    # Twice: the body "Try it out" starts from is the same on every load.
    for _ in range(2):
        page.goto(f"{api.base_url}/docs")
        expect(page.locator(".info .title")).to_contain_text("Todo API")
        create = operation(page, "POST", "/api/v1/users/{user_id}/todos")
        create.get_by_role("button", name="Try it out").click()
        body = create.locator("textarea.body-param__text")
        assert json.loads(body.input_value()) == EXAMPLE_TODO

    create.locator('input[placeholder="user_id"]').fill(USER_ID)
    body.fill(json.dumps({"title": TITLE}))

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
    # The browser reports the deliberate 401; nothing else went wrong.
    assert_nothing_went_wrong(
        watched,
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)",
    )


def test_redoc_renders_from_the_service_alone(watched: Watched, api: Api, artifacts: Path) -> None:
    page = watched.page
    page.goto(f"{api.base_url}/redoc")
    expect(page.get_by_role("heading", name="Create a todo")).to_be_visible()
    # The request samples are the schemas' examples.
    expect(page.get_by_text('"Buy milk"').first).to_be_attached()
    page.get_by_placeholder("Search...").fill("complet")
    expect(page.locator('[role="search"] li, .search-results li').first).to_be_visible()

    page.screenshot(path=artifacts / "redoc.png")
    # Not even the Redocly logo of the footer, which the bundle as shipped loads from a CDN.
    assert_nothing_went_wrong(watched)
