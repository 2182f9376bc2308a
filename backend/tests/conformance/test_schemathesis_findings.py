"""Regular regression tests for what schemathesis found, each its exact failing request.

1. ST202 (valid data refused), case `0r9GYd`: the document declared any string of
   `A-Z a-z 0-9 _ -` a valid `cursor`, but only a cursor this service issued is one.
   Resolved as schemathesis advises for a rule a schema cannot state: 422 is allowed for
   the list's valid data, and `only_the_cursor_is_refused` holds such a 422 to the cursor.
2. ST202, case `KtkQjQ`: a title of only whitespace (`"\\r"`) met the documented
   `minLength: 1`, but the server trims titles first and refused it. Resolved in the
   document: every `title` now carries a pattern requiring a character that survives the
   trimming (`todo_api/api/openapi_extras.py`), and a contract test holds the pattern and
   the server to the same answer for every such character.
"""

import re

import httpx

from tests.helpers import assert_validation_error, create_todo, todos_url
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
