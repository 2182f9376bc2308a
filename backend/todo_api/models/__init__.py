"""The models: one SQLModel class hierarchy per resource, each both its table and its API
schemas (`todos`, `lists`), built from the rules they share (`fields`).

Importing the package registers every table on `SQLModel.metadata` (`idempotency` holds
the keys of retried requests): a todo's foreign key names the list table, so neither is
complete without the other.
"""

from todo_api.models import idempotency, lists, todos

__all__ = ["idempotency", "lists", "todos"]
