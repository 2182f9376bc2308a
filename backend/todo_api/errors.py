"""The failures the services report on purpose, in words of the domain.

Services and the database layer raise these and know nothing about HTTP: which status
and body each one becomes is decided in one place, `todo_api.api.errors`.
"""


class TodoNotFound(Exception):
    """No such todo for this user. Deliberately the same whether the id is unknown or
    belongs to someone else, so ids of other users cannot be probed."""


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
