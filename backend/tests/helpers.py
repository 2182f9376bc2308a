"""Small helpers the test modules share."""

import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlmodel import SQLModel

API = "/api/v1"


def truncate_every_table() -> str:
    """The statement that empties every table of the models (todos, lists, tombstones,
    idempotency keys, whatever comes next), so a test starts from nothing."""
    import todo_api.models  # noqa: F401, PLC0415  (registers every table)

    return f"TRUNCATE {', '.join(sorted(SQLModel.metadata.tables))}"


def todos_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/todos"


def todo_url(user_id: str, todo_id: str) -> str:
    return f"{todos_url(user_id)}/{todo_id}"


async def create_todo(client: httpx.AsyncClient, user_id: str, **fields: Any) -> dict[str, Any]:
    """Create a todo through the API and return its JSON; fails the test on anything but 201."""
    body = {"title": "a todo", **fields}
    response = await client.post(todos_url(user_id), json=body)
    assert response.status_code == 201, response.text
    todo: dict[str, Any] = response.json()
    return todo


PROBLEM_JSON = "application/problem+json"


def problem(status: int, error_code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """The body of an error response: problem details (RFC 9457) with `error_code`."""
    return {
        "type": "urn:todo-api:problem:" + error_code.lower().replace("_", "-"),
        "title": error_code.replace("_", " ").title().replace("Read Only", "Read-Only"),
        "status": status,
        "detail": detail,
        "error_code": error_code,
        **extensions,
    }


def assert_error(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    """The response is the API's error, problem details, with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["error_code"] == error_code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body == problem(status, error_code, body["detail"], **_extensions(body))
    return body


def _extensions(body: dict[str, Any]) -> dict[str, Any]:
    return {"field_errors": body["field_errors"]} if "field_errors" in body else {}


def assert_validation_error(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 422 that names `field` among its field errors."""
    body = assert_error(response, 422, "VALIDATION_ERROR")
    fields = [error["field"] for error in body["field_errors"]]
    assert field in fields, fields
    return body


def most_pages(todos: int, limit: int) -> int:
    """How many pages a listing of at most `todos` todos can take at `limit` a page: every
    page but the last is full, and even an empty listing is one page."""
    return max(1, math.ceil(todos / limit))


class CursorWalk:
    """Following `next_cursor` from page to page, with a cap, so that a cursor that does not
    advance fails the test that follows it instead of hanging the suite.

    `max_pages` comes from what the test created (see `most_pages`). Each new cursor must
    differ from every cursor of the walk so far (a keyset position only moves on), and
    there is no page past `max_pages`. For a walk that fetches its pages some other way
    than `walk_pages`: `query` gives the parameters of the next page, and `follow` takes the
    page that came back and says whether there is another."""

    def __init__(self, max_pages: int, cursor: str | None = None) -> None:
        self.max_pages = max_pages
        self.cursor = cursor
        self.pages = 0
        self._cursors_seen = {cursor} if cursor else set()

    def query(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with the cursor of the next page, if the walk has one yet."""
        return {**params, "cursor": self.cursor} if self.cursor else dict(params)

    def follow(self, page: dict[str, Any]) -> bool:
        """Take the page just fetched; True if there is a next page to fetch."""
        self.pages += 1
        next_cursor: str | None = page["next_cursor"]
        if next_cursor is None:
            return False
        assert next_cursor not in self._cursors_seen, (
            f"page {self.pages} gave a next_cursor this walk has already followed: the cursor "
            f"does not advance ({next_cursor!r})"
        )
        assert self.pages < self.max_pages, (
            f"page {self.pages} still has a next_cursor, but what the test created fits in "
            f"{self.max_pages} page(s)"
        )
        self._cursors_seen.add(next_cursor)
        self.cursor = next_cursor
        return True


async def walk_pages(
    client: httpx.AsyncClient,
    user_id: str,
    *,
    max_pages: int,
    cursor: str | None = None,
    **params: Any,
) -> AsyncIterator[dict[str, Any]]:
    """Every page of a user's listing with `params`, in order, following `next_cursor` for
    at most `max_pages` pages (see `CursorWalk`); each page must be a 200."""
    walk = CursorWalk(max_pages, cursor)
    while True:
        response = await client.get(todos_url(user_id), params=walk.query(params))
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        yield page
        if not walk.follow(page):
            return
