"""The API's error format, problem details (api/errors.py): the response class, each
handler, and the errors the real app gives without a database for what no route serves."""

from typing import Annotated, Any

import httpx
import orjson
import pytest
from asyncpg import exceptions as pg
from fastapi import FastAPI, Query
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tests.helpers import PROBLEM_JSON, assert_error, assert_validation_error, problem
from tests.unit.asgi import client_for
from todo_api.api.errors import (
    EXCEPTION_HANDLERS,
    ErrorResponse,
    service_unavailable,
    unsupported_media_type,
    validation_error,
)
from todo_api.errors import (
    Conflict,
    DatabaseUnavailable,
    IdempotencyKeyReused,
    InvalidInput,
    ListNotEmpty,
    PreconditionFailed,
    PreconditionRequired,
    RequestInProgress,
    ResyncRequired,
    TodoNotFound,
)


def _json(response: ErrorResponse) -> Any:
    return orjson.loads(bytes(response.body))


# --- The response class -----------------------------------------------------------------


def test_error_body_is_problem_details_with_error_code_and_no_field_errors() -> None:
    response = ErrorResponse(409, "CONFLICT", "Already there.")

    assert _json(response) == {
        "type": "urn:todo-api:problem:conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "Already there.",
        "error_code": "CONFLICT",
    }


def test_a_code_outside_the_table_still_gets_a_type_and_a_title() -> None:
    response = ErrorResponse(406, "NOT_ACCEPTABLE", "No.")

    assert _json(response) == problem(406, "NOT_ACCEPTABLE", "No.")


@pytest.mark.parametrize(
    "field_errors",
    [[], [{"field": "body.title", "message": "Field required"}]],
    ids=["empty", "one"],
)
def test_error_body_has_field_errors_when_given(field_errors: list[dict[str, str]]) -> None:
    response = ErrorResponse(422, "VALIDATION_ERROR", "Invalid.", field_errors=field_errors)

    assert _json(response)["field_errors"] == field_errors


def test_error_response_is_declared_as_problem_json() -> None:
    response = ErrorResponse(400, "BAD_REQUEST", "Bad.")

    assert response.headers["content-type"] == PROBLEM_JSON


def test_service_unavailable_is_503_with_retry_after() -> None:
    response = service_unavailable()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert _json(response)["error_code"] == "SERVICE_UNAVAILABLE"


def test_validation_error_is_422_listing_field_errors() -> None:
    response = validation_error([{"field": "query.limit", "message": "too big"}])

    assert response.status_code == 422
    assert _json(response) == problem(
        422,
        "VALIDATION_ERROR",
        "The request is invalid; see field_errors.",
        field_errors=[{"field": "query.limit", "message": "too big"}],
    )


def test_unsupported_media_type_is_415_without_field_errors() -> None:
    response = unsupported_media_type()

    assert response.status_code == 415
    assert set(_json(response)) == {"type", "title", "status", "detail", "error_code"}


# --- The handlers, on a tiny app with routes that raise ---------------------------------

SECRET = "password=hunter2 at db.internal:5432"


class Item(BaseModel):
    title: str


def _tiny_app(exc: BaseException) -> FastAPI:
    app = FastAPI(exception_handlers=EXCEPTION_HANDLERS)

    @app.get("/raise")
    async def raise_it() -> None:
        raise exc

    @app.post("/items")
    async def create_item(item: Item, limit: Annotated[int, Query(ge=1)] = 1) -> Item:
        return item

    return app


async def _raise(exc: BaseException) -> httpx.Response:
    async with client_for(_tiny_app(exc)) as client:
        return await client.get("/raise")


OUTAGES: dict[str, BaseException] = {
    "database-unavailable": DatabaseUnavailable("not migrated"),
    "starting-up-57P03": pg.CannotConnectNowError("starting up"),
    "closed-mid-query": pg.ConnectionDoesNotExistError("connection was closed"),
    "connection-refused": ConnectionRefusedError(111, "Connection refused"),
    "timeout": TimeoutError(),
}


@pytest.mark.parametrize(
    ("exc", "status", "error_code"),
    [
        pytest.param(TodoNotFound(), 404, "NOT_FOUND", id="todo-not-found"),
        pytest.param(InvalidInput("query.cursor", "bad"), 422, "VALIDATION_ERROR", id="invalid"),
        pytest.param(Conflict(), 409, "CONFLICT", id="conflict"),
        pytest.param(ListNotEmpty("Not empty."), 409, "LIST_NOT_EMPTY", id="list-not-empty"),
        pytest.param(RequestInProgress(), 409, "CONFLICT", id="in-progress"),
        pytest.param(PreconditionFailed('"7"'), 412, "PRECONDITION_FAILED", id="412"),
        pytest.param(PreconditionRequired(), 428, "PRECONDITION_REQUIRED", id="428"),
        pytest.param(IdempotencyKeyReused(), 422, "IDEMPOTENCY_KEY_REUSED", id="key-reused"),
        pytest.param(ResyncRequired(), 410, "RESYNC_REQUIRED", id="resync"),
        pytest.param(HTTPException(400, "Bad framing"), 400, "BAD_REQUEST", id="http-400"),
        pytest.param(HTTPException(404, SECRET), 404, "NOT_FOUND", id="http-404"),
        pytest.param(HTTPException(413), 413, "PAYLOAD_TOO_LARGE", id="http-413"),
        pytest.param(RuntimeError(SECRET), 500, "INTERNAL_ERROR", id="bug"),
        pytest.param(pg.UniqueViolationError(SECRET), 500, "INTERNAL_ERROR", id="integrity-error"),
        pytest.param(pg.InterfaceError(SECRET), 500, "INTERNAL_ERROR", id="driver-misuse"),
        *[pytest.param(exc, 503, "SERVICE_UNAVAILABLE", id=name) for name, exc in OUTAGES.items()],
    ],
)
async def test_exception_becomes_json_error(
    exc: BaseException, status: int, error_code: str
) -> None:
    assert_error(await _raise(exc), status, error_code)


@pytest.mark.parametrize("exc", OUTAGES.values(), ids=OUTAGES.keys())
async def test_outage_answer_has_retry_after(exc: BaseException) -> None:
    response = await _raise(exc)

    assert response.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(RuntimeError(SECRET), id="bug"),
        pytest.param(HTTPException(404, SECRET), id="http-404"),
        pytest.param(pg.UniqueViolationError(SECRET), id="integrity-error"),
    ],
)
async def test_error_answer_does_not_leak_internals(exc: BaseException) -> None:
    response = await _raise(exc)

    assert "hunter2" not in response.text
    assert "db.internal" not in response.text


async def test_a_failed_precondition_carries_the_current_etag() -> None:
    response = await _raise(PreconditionFailed('W/"abc"'))

    assert response.headers["etag"] == 'W/"abc"'
    assert "If-Match" in response.json()["detail"]


async def test_a_request_still_in_progress_says_when_to_retry() -> None:
    response = await _raise(RequestInProgress())

    assert response.headers["retry-after"] == "1"
    assert "Idempotency-Key" in response.json()["detail"]


async def test_a_reused_idempotency_key_is_a_422_naming_the_header() -> None:
    response = await _raise(IdempotencyKeyReused())

    body = assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert [error["field"] for error in body["field_errors"]] == ["header.Idempotency-Key"]
    assert "new key" in body["detail"]


async def test_a_stale_sync_token_says_to_sync_again_without_since() -> None:
    body = assert_error(await _raise(ResyncRequired()), 410, "RESYNC_REQUIRED")

    assert "without since" in body["detail"]


async def test_invalid_input_names_its_field() -> None:
    response = await _raise(InvalidInput("query.cursor", "Invalid cursor."))

    body = assert_validation_error(response, "query.cursor")
    assert body["field_errors"] == [{"field": "query.cursor", "message": "Invalid cursor."}]


async def test_http_exception_headers_are_kept() -> None:
    response = await _raise(HTTPException(401, "Who are you?", headers={"WWW-Authenticate": "x"}))

    assert response.headers["www-authenticate"] == "x"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"json": {}}, "body.title", id="missing-field"),
        pytest.param({"json": {"title": 1}}, "body.title", id="wrong-type"),
        pytest.param({"json": {"title": "t"}, "params": {"limit": "0"}}, "query.limit", id="query"),
        pytest.param(
            {"content": b'{"title": ', "headers": {"content-type": "application/json"}},
            "body",
            id="json-syntax",
        ),
    ],
)
async def test_request_validation_error_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    async with client_for(_tiny_app(RuntimeError())) as client:
        response = await client.post("/items", **kwargs)

    assert_validation_error(response, field)


async def test_json_syntax_error_message_says_body_is_not_json() -> None:
    async with client_for(_tiny_app(RuntimeError())) as client:
        response = await client.post(
            "/items", content=b'{"title": ', headers={"content-type": "application/json"}
        )

    [error] = assert_validation_error(response, "body")["field_errors"]
    assert error["message"].startswith("Body is not valid JSON")


# --- The real app, without a database ---------------------------------------------------


async def test_unknown_route_is_404_not_found(offline_client: httpx.AsyncClient) -> None:
    response = await offline_client.get("/no/such/route")

    assert_error(response, 404, "NOT_FOUND")


async def test_wrong_method_is_405_with_allow(offline_client: httpx.AsyncClient) -> None:
    response = await offline_client.delete("/health")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, HEAD"
