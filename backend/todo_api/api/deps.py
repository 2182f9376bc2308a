"""Dependencies shared by the routes, each named once as an `Annotated` type."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request

from todo_api.db.session import Database
from todo_api.models import USER_ID_MAX_LENGTH, USER_ID_PATTERN


async def _database(request: Request) -> AsyncIterator[Database]:
    """The request's database access, closed however the request ends.

    This is the only way routes reach the database, so no connection can leak."""
    async with Database(request.app.state.engine) as database:
        yield database


DatabaseDep = Annotated[Database, Depends(_database)]

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX_LENGTH,
        pattern=USER_ID_PATTERN,
        description=(
            "Whose todos these are: 1 to 128 letters, digits or `. _ - ~ : @ | +` "
            "(for example `alice`, a UUID, or `auth0|abc123`)."
        ),
        examples=["alice"],
    ),
]

TodoId = Annotated[uuid.UUID, Path(description="The todo's id, as returned when it was created.")]
