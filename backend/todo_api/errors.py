"""The failures the services report on purpose, in words of the domain.

Services and the database layer raise these and know nothing about HTTP: which status
and body each one becomes is decided in one place, `todo_api.api.errors`.
"""


class NotFound(Exception):
    """No such item for this user. Deliberately the same whether the id is unknown or
    belongs to someone else, so ids of other users cannot be probed."""


class TodoNotFound(NotFound):
    """No such todo for this user."""


class ListNotFound(NotFound):
    """No such list for this user."""


class Conflict(Exception):
    """The request is valid but clashes with what is stored; `error_code` says how."""

    error_code = "CONFLICT"


class ListNameTaken(Conflict):
    """The user already has a list of this name (compared without regard to case)."""


class ListNotEmpty(Conflict):
    """A list still holding todos was asked to be deleted without saying what becomes of
    them."""

    error_code = "LIST_NOT_EMPTY"


class RequestInProgress(Conflict):
    """An earlier request with the same idempotency key is still being executed; the
    repeat is refused rather than executed a second time."""


class IdempotencyKeyReused(Exception):
    """An idempotency key the user already used for a request with a different body."""


class PreconditionFailed(Exception):
    """The client's `If-Match` names a version of the item that is no longer current;
    `current_etag` is the one that is."""

    def __init__(self, current_etag: str) -> None:
        super().__init__(current_etag)
        self.current_etag = current_etag


class PreconditionRequired(Exception):
    """An unconditional write on a single item, where the settings require `If-Match`."""


class ResyncRequired(Exception):
    """A change-feed token older than the tombstones kept: the changes since then cannot
    all be told, so the client must sync again from the start."""


class InvalidInput(Exception):
    """Input that passed type validation but breaks a rule only the service can check;
    `field` names it as a 422 does (`query.cursor`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DatabaseUnavailable(Exception):
    """The database cannot serve requests right now (unreachable, out of step, or not at
    the schema this code needs); worth retrying."""


class DatabaseNotMigrated(DatabaseUnavailable):
    """The database answers, but its schema is not the one this code needs: never
    migrated, or behind the code (`todo-api migrate` fixes both)."""


class DatabaseReadOnly(DatabaseUnavailable):
    """The database answers but refuses writes: a standby after a failover, or a database
    set read-only."""
