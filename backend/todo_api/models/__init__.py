"""The models: one SQLModel class hierarchy per resource, each both its table and its API
schemas (`todos`, `lists`), built from the rules they share (`fields`).

Importing the package registers both tables on `SQLModel.metadata`: a todo's foreign key
names the list table, so neither is complete without the other.
"""

from todo_api.models import lists, todos

__all__ = ["lists", "todos"]
