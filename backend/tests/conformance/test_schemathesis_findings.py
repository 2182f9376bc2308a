"""Regular regression tests for what schemathesis found, each its exact failing request.

1. ST202 (valid data refused), case `0r9GYd`: the document declared any string of
   `A-Z a-z 0-9 _ -` a valid `cursor`, but only a cursor this service issued is one.
   Resolved as schemathesis advises for a rule a schema cannot state: 422 is allowed for
   the list's valid data, and `only_unstatable_rules_refuse` holds such a 422 to the cursor.
2. ST202, case `KtkQjQ`: a title of only whitespace (`"\\r"`) met the documented
   `minLength: 1`, but the server trims titles first and refused it. Resolved in the
   document: every `title` now carries a pattern requiring a character that survives the
   trimming (`todo_api/api/openapi_extras.py`), and a contract test holds the pattern and
   the server to the same answer for every such character.

Found with the planning fields and the collection operations, each resolved; the test
of each is its minimal failing request.

3. 500, `patchTodos`: a bulk change whose body set a field that is also a filter of the
   query (`?is_completed=false` with `{"is_completed": true}`, `?tag=a` with `{"tags":
   [...]}`) passed the same keyword twice to `Database.fetch_one` (TypeError): filter and
   change parameters shared names. Resolved: filter parameters are now `match_*`.
4. ST202, `patchTodos`: the document's `TodoBulkChange` accepts `{}`, which the server
   refuses ("Send at least one of ..."). Resolved: the schema has an `anyOf` of
   `required`, one per field.
5. ST204, `createTodos` and `getTodoStats`: `PUT /todos/bulk`, and `PUT` or `DELETE`
   `/todos/stats`, are answered by the `/{todo_id}` routes with a 422 "todo_id must be a
   UUID" (plus body errors) instead of 405 with `Allow`. Resolved: a path error on a
   route when a more literal route serves the path is a 405 naming that route's methods.
6. Found by the hostile corpus: the unknown-field message of a bulk change lists the
   fields of a single todo's PATCH (`{"title": "x"}` gets "title is not a field; did you
   mean title? The fields are title, description, ..."), and that of a bulk create's top
   level does the same instead of naming `todos`. Resolved: the message lists the fields
   of the object the key was found in.
7. `tz=localtime` is accepted: `zoneinfo.available_timezones()` lists the machine's
   `/usr/share/zoneinfo/localtime` link, which is no IANA name and means whatever zone
   the server happens to be set to. Resolved: the names are tzdata's list of zones.
8. A `due_at` with 7 fractional digits (.NET's round-trip format; valid RFC 3339 and
   `format: date-time`) is refused as "not an RFC 3339 date and time". Resolved: any
   number of digits is taken, and those past the microsecond dropped.
"""

import re

import httpx
import jsonschema_rs

from tests.helpers import assert_validation_error, create_todo, todo_url, todos_url
from todo_api.openapi import openapi_document


async def test_a_cursor_the_service_did_not_issue_is_refused_for_the_cursor_alone(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    del clean_database
    # curl -X GET '.../users/0000...0/todos?limit=100&cursor=0&is_completed=true'
    response = await client.get(
        todos_url("0" * 127), params={"limit": 100, "cursor": "0", "is_completed": "true"}
    )

    body = assert_validation_error(response, "query.cursor")
    assert [error["field"] for error in body["field_errors"]] == ["query.cursor"]


async def test_a_whitespace_title_is_refused_by_the_server_and_by_the_document(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    del clean_database
    todo = await create_todo(client, "XR+c")
    # The replay of KtkQjQ: unknown properties, and a title of one carriage return.
    body = {
        "": "",
        "Z": 33537,
        "\u008d\u00ab,\u00a8%": [None],
        "description": "0{",
        "title": "\r",
        "is_completed": False,
    }

    response = await client.put(f"{todos_url('XR%2Bc')}/{todo['id']}", json=body)

    assert_validation_error(response, "body.title")
    schema = openapi_document()["components"]["schemas"]["TodoReplace"]["properties"]["title"]
    assert re.fullmatch(schema["pattern"], "\r") is None
    assert (await client.get(f"{todos_url('XR%2Bc')}/{todo['id']}")).json() == todo


async def test_a_bulk_change_may_set_a_field_its_filters_also_name(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    """Reproduce: curl -X PATCH -H 'Content-Type: application/json'
    -d '{"is_completed": true}' 'http://HOST/api/v1/users/alice/todos?is_completed=false'
    (and the same with ?tag=a and {"tags": ["b"]}): 500 INTERNAL_ERROR."""
    del clean_database
    todo = await create_todo(client, "alice", tags=["a"])
    completed = await client.patch(
        todos_url("alice"), params={"is_completed": "false"}, json={"is_completed": True}
    )
    retagged = await client.patch(todos_url("alice"), params={"tag": "a"}, json={"tags": ["b"]})

    assert (completed.status_code, completed.json()) == (200, {"updated": 1}), completed.text
    assert (retagged.status_code, retagged.json()) == (200, {"updated": 1}), retagged.text
    now = (await client.get(todo_url("alice", todo["id"]))).json()
    assert (now["is_completed"], now["tags"]) == (True, ["b"])


def test_the_document_refuses_a_bulk_change_that_changes_nothing() -> None:
    document = openapi_document()
    body_schema = {
        "$ref": "#/components/schemas/TodoBulkChange",
        "components": document["components"],
    }
    validator = jsonschema_rs.Draft202012Validator(body_schema)

    assert validator.is_valid({"priority": "high"})
    assert not validator.is_valid({}), "the server refuses {} (422); the document allows it"


async def test_other_methods_on_the_collection_subresources_are_405(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    """Reproduce: curl -X PUT http://HOST/api/v1/users/alice/todos/stats (422 path.todo_id)."""
    del clean_database
    put_bulk = await client.put(f"{todos_url('alice')}/bulk", json={"todos": [{"title": "x"}]})
    put_stats = await client.put(f"{todos_url('alice')}/stats")
    delete_stats = await client.delete(f"{todos_url('alice')}/stats")

    assert (put_bulk.status_code, put_bulk.headers.get("allow")) == (405, "POST"), put_bulk.text
    assert (put_stats.status_code, put_stats.headers.get("allow")) == (405, "GET, HEAD")
    assert (delete_stats.status_code, delete_stats.headers.get("allow")) == (405, "GET, HEAD")


async def test_an_unknown_field_of_a_bulk_body_is_told_the_bulk_fields(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    """Reproduce: curl -X PATCH -H 'Content-Type: application/json' -d '{"title": "x"}'
    http://HOST/api/v1/users/alice/todos"""
    del clean_database
    change = await client.patch(todos_url("alice"), json={"title": "x"})
    create = await client.post(
        f"{todos_url('alice')}/bulk", json={"todos": [{"title": "x"}], "extra": 1}
    )

    change_message = assert_validation_error(change, "body.title")["field_errors"][0]["message"]
    create_message = assert_validation_error(create, "body.extra")["field_errors"][0]["message"]
    assert "did you mean title" not in change_message
    assert "is_completed, priority and tags" in change_message, change_message
    assert "todos" in create_message, create_message


async def test_tz_localtime_is_not_an_iana_zone(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    """Reproduce: curl 'http://HOST/api/v1/users/alice/todos/stats?tz=localtime' (200)."""
    del clean_database
    response = await client.get(f"{todos_url('alice')}/stats", params={"tz": "localtime"})

    assert_validation_error(response, "query.tz")


async def test_a_due_at_with_seven_fractional_digits_is_an_instant(
    client: httpx.AsyncClient, clean_database: None
) -> None:
    """Reproduce: curl -X POST -H 'Content-Type: application/json'
    -d '{"title": "x", "due_at": "2026-11-27T17:00:00.1234567Z"}'
    http://HOST/api/v1/users/alice/todos (422 body.due_at)."""
    del clean_database
    response = await client.post(
        todos_url("alice"), json={"title": "x", "due_at": "2026-11-27T17:00:00.1234567Z"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["due_at"].startswith("2026-11-27T17:00:00.123456")
