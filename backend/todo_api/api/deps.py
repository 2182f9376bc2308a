"""Dependencies shared by the routes, each named once as an `Annotated` type."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from todo_api.db.database import Database
from todo_api.models import USER_ID_MAX_LENGTH, USER_ID_PATTERN


async def _database(request: Request) -> Database:
    """The app's database. It lends a connection per statement, so routes never hold one."""
    database: Database = request.app.state.database
    return database


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
