"""Dependencies shared by the routes, each named once as an `Annotated` type."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from todo_api.models import USER_ID_MAX_LENGTH, USER_ID_PATTERN


async def _database_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for one request, returned to the pool however the request ends.

    This is the only way routes reach the database, so nothing can leak a connection."""
    engine: AsyncEngine = request.app.state.engine
    async with engine.connect() as connection:
        yield connection


DatabaseConnection = Annotated[AsyncConnection, Depends(_database_connection)]

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
