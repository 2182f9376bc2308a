"""The request bodies: trimming, lengths, NUL characters, required fields and PATCH semantics.

Limits are written as literals, not imported, so a change to a limit fails a test."""

from typing import Any

import pytest
from pydantic import ValidationError

from todo_api.models.todos import TodoCreate, TodoPatch, TodoReplace


def _error_locations(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(detail["loc"]) for detail in error.errors()]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Buy milk  ", "Buy milk"),
        ("\tBuy milk\n", "Buy milk"),
        ("Buy  milk", "Buy  milk"),
    ],
)
def test_create_trims_the_title(raw: str, stored: str) -> None:
    assert TodoCreate(title=raw).title == stored


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("\t\n ", id="whitespace"),
        pytest.param("a" * 256, id="256-characters"),
        pytest.param("a" * 254 + "  ", id="256-characters-as-sent-254-after-trimming"),
        pytest.param("é" * 256, id="256-non-ascii-characters"),
        pytest.param("a\x00b", id="nul-inside"),
        pytest.param("\x00", id="only-nul"),
        pytest.param("ab\x00", id="nul-at-end"),
    ],
)
def test_create_rejects_invalid_title(title: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TodoCreate(title=title)

    assert _error_locations(caught.value) == [("title",)]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param("a" * 255, "a" * 255, id="255-characters"),
        pytest.param(" " + "a" * 253 + " ", "a" * 253, id="255-characters-as-sent-trimmed"),
        pytest.param("é" * 255, "é" * 255, id="255-non-ascii-characters"),
        pytest.param("a", "a", id="one-character"),
    ],
)
def test_create_accepts_title_up_to_255_characters_as_sent(raw: str, stored: str) -> None:
    assert TodoCreate(title=raw).title == stored


def test_create_requires_a_title() -> None:
    with pytest.raises(ValidationError) as caught:
        TodoCreate.model_validate({})

    assert _error_locations(caught.value) == [("title",)]


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("d" * 2000, id="2000-characters"),
        pytest.param("", id="empty"),
        pytest.param("  kept as typed  ", id="untrimmed"),
        pytest.param(None, id="none"),
    ],
)
def test_create_accepts_description(description: str | None) -> None:
    assert TodoCreate(title="t", description=description).description == description


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("d" * 2001, id="2001-characters"),
        pytest.param("line\x00", id="nul"),
    ],
)
def test_create_rejects_invalid_description(description: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TodoCreate(title="t", description=description)

    assert _error_locations(caught.value) == [("description",)]


def test_create_defaults_to_no_description_and_not_completed() -> None:
    todo = TodoCreate(title="t")

    assert (todo.description, todo.is_completed) == (None, False)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        pytest.param({"description": None, "is_completed": False}, "title", id="no-title"),
        pytest.param({"title": "t", "is_completed": False}, "description", id="no-description"),
        pytest.param({"title": "t", "description": None}, "is_completed", id="no-is-completed"),
    ],
)
def test_replace_requires_every_field(body: dict[str, Any], missing: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TodoReplace.model_validate(body)

    assert _error_locations(caught.value) == [(missing,)]


def test_replace_accepts_null_description() -> None:
    todo = TodoReplace.model_validate({"title": "t", "description": None, "is_completed": True})

    assert todo.model_dump() == {"title": "t", "description": None, "is_completed": True}


def test_replace_trims_the_title() -> None:
    todo = TodoReplace.model_validate({"title": " t ", "description": None, "is_completed": True})

    assert todo.title == "t"


@pytest.mark.parametrize(
    ("body", "dumped"),
    [
        pytest.param({}, {}, id="empty"),
        pytest.param({"description": None}, {"description": None}, id="null-description"),
        pytest.param({"title": "  t  "}, {"title": "t"}, id="title-trimmed"),
        pytest.param({"is_completed": True}, {"is_completed": True}, id="is-completed"),
    ],
)
def test_patch_dumps_only_the_fields_sent(body: dict[str, Any], dumped: dict[str, Any]) -> None:
    assert TodoPatch.model_validate(body).model_dump() == dumped


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"title": None}, "title", id="null-title"),
        pytest.param({"is_completed": None}, "is_completed", id="null-is-completed"),
        pytest.param({"title": "   "}, "title", id="blank-title"),
        pytest.param({"title": "a" * 256}, "title", id="256-character-title"),
        pytest.param({"title": "a\x00"}, "title", id="nul-in-title"),
        pytest.param({"description": "d" * 2001}, "description", id="2001-character-description"),
        pytest.param({"description": "\x00"}, "description", id="nul-in-description"),
    ],
)
def test_patch_rejects_invalid_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TodoPatch.model_validate(body)

    assert _error_locations(caught.value) == [(field,)]


def test_patch_schema_requires_no_field() -> None:
    schema = TodoPatch.model_json_schema()

    writable = {name for name, prop in schema["properties"].items() if not prop.get("readOnly")}

    assert schema.get("required", []) == []
    assert writable == {
        "title",
        "description",
        "is_completed",
        "priority",
        "due_at",
        "tags",
        "list_id",
    }


@pytest.mark.parametrize("field", ["title", "is_completed"])
def test_patch_schema_field_is_not_nullable(field: str) -> None:
    prop = TodoPatch.model_json_schema()["properties"][field]

    assert "anyOf" not in prop
    assert prop["type"] in {"string", "boolean"}


def test_patch_schema_title_is_a_plain_bounded_string() -> None:
    title = TodoPatch.model_json_schema()["properties"]["title"]

    assert (title["type"], title["minLength"], title["maxLength"]) == ("string", 1, 255)


def test_patch_schema_description_is_nullable() -> None:
    description = TodoPatch.model_json_schema()["properties"]["description"]

    assert {"type": "null"} in description["anyOf"]


# --- Keys that are not fields -----------------------------------------------------------

READ_ONLY = {
    "id": "1b3f3c9e-6a39-4f8e-9a51-6e0f8f1f2b7a",
    "user_id": "someone-else",
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": 5,
}
VALID_BODIES: list[tuple[type[TodoPatch], dict[str, Any]]] = [
    (TodoCreate, {"title": "t"}),
    (TodoReplace, {"title": "t", "description": None, "is_completed": True}),
    (TodoPatch, {"is_completed": True}),
]


@pytest.mark.parametrize(("model", "body"), VALID_BODIES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("key", ["completed", "done", "titel", "labels"])
def test_every_body_rejects_a_key_that_is_not_a_field(
    model: type[TodoPatch], body: dict[str, Any], key: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**body, key: True})

    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("extra_forbidden", (key,))]


@pytest.mark.parametrize(("model", "body"), VALID_BODIES, ids=lambda v: getattr(v, "__name__", ""))
def test_every_body_ignores_the_fields_the_api_returns(
    model: type[TodoPatch], body: dict[str, Any]
) -> None:
    """With any value: they are dropped unread, so they never reach the SQL."""
    with_read_only = model.model_validate({**body, **READ_ONLY})

    assert with_read_only.model_dump() == model.model_validate(body).model_dump()
    assert not set(with_read_only.model_dump()) & set(READ_ONLY)
