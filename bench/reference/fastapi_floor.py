"""The FastAPI floor: GET one as a FastAPI route with nothing of the API's around it.

The same route signature as the API's GET one (the user id as a path string, the todo id
as a UUID, `If-None-Match` as an optional header parameter), the reference's statement,
pool and bytes (bench/reference/app.py), and FastAPI's own request path in between: its
routing, its parameter pass and validation, its wrappers around the endpoint. No
middleware, no metrics, no OpenAPI document.

What it serves against the Starlette reference is the most any FastAPI app doing this
SQL can serve on the machine; the API against it is what the API's own code costs
(bench/RESULTS.md, "Where GET one's time goes").
"""

import uuid
from typing import Annotated

from fastapi import FastAPI, Header, Request
from starlette.responses import Response

from bench.reference.app import health, lifespan, not_found, one_todo, pool_of
from bench.reference.sql import SELECT_ONE

app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/api/v1/users/{user_id}/todos/{todo_id}")
async def get_todo(
    request: Request,
    user_id: str,
    todo_id: uuid.UUID,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    row = await pool_of(request).fetchrow(SELECT_ONE, user_id, todo_id)
    if row is None:
        return not_found()
    return one_todo(row, if_none_match)


app.add_route("/health", health, methods=["GET"])
