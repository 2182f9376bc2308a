"""Small helpers the test modules share."""

from typing import Any

import httpx

API = "/api/v1"


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


def assert_error(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    """The response is the API's JSON error with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error_code"] == error_code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def assert_validation_error(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 422 that names `field` among its field errors."""
    body = assert_error(response, 422, "VALIDATION_ERROR")
    fields = [error["field"] for error in body["field_errors"]]
    assert field in fields, fields
    return body
