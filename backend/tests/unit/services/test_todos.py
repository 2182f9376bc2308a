"""The todo statements take every writable field from the model.

A field added to `TodoBase` must reach the database from every write without being listed
again by hand; these tests fail when one would be validated, shown in /docs, and then
dropped on the way to the table."""

import pytest

from todo_api.models.todos import TodoBase, TodoCreate, TodoPatch, TodoReplace
from todo_api.services import todos

WRITABLE = set(TodoBase.model_fields)


def test_every_writable_field_is_a_column_of_the_table() -> None:
    assert set(todos.TODOS.c.keys()) >= WRITABLE


@pytest.mark.parametrize("body", [TodoCreate, TodoReplace, TodoPatch])
def test_every_request_body_carries_exactly_the_writable_fields(body: type[TodoBase]) -> None:
    """What a body dumps is what the statements write; PATCH offers every field too."""
    assert set(body.model_fields) == WRITABLE


def test_create_inserts_every_writable_field() -> None:
    assert set(todos._INSERT.parameters) == {"user_id", *WRITABLE}


def test_replace_updates_every_writable_field() -> None:
    statement = todos._update_query(tuple(TodoBase.model_fields))
    assert set(statement.parameters) >= WRITABLE
