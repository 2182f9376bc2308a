"""What the routes take from a request besides its body: the database and the purger,
and the path parameters, each path parameter named once as an `Annotated` type."""

import uuid
from typing import Annotated

from fastapi import Path, Request

from todo_api.db.database import Database
from todo_api.models.fields import USER_ID_MAX_LENGTH, USER_ID_PATTERN
from todo_api.services.purge import Purger


def database(request: Request) -> Database:
    """The app's database. It lends a connection per statement, so routes never hold one.

    A plain function the routes call, not a `Depends`: FastAPI resolves every dependency
    with a pass of its own over the request's path, query, header and cookie parameters,
    about 20 µs a request for a value that is the same for all of them (decision 0009)."""
    app_database: Database = request.app.state.database
    return app_database


def nudge_purger(request: Request) -> None:
    """Tell the app's purger a write happened that leaves something to expire (a
    tombstone, an idempotency key): it may start a batch (see services.purge)."""
    purger: Purger = request.app.state.purger
    purger.nudge()


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
ListId = Annotated[uuid.UUID, Path(description="The list's id, as returned when it was created.")]
