"""Isolation as a property: random interleaved operations of several users, checked against
an in-memory model after every step.

Hypothesis drives three users through create, bulk create, list (filters, orders, page
sizes, cursors, including another user's cursor), get, replace, patch, complete, delete,
bulk change, bulk delete and stats. The acting
user is drawn apart from the todo, so most of these aim at another user's todo, or at a
deleted one. After every step, each user's full
list must equal the model of that user's todos, and every answer must be exactly what the
model predicts: another user's todo is a 404 and stays untouched.

The machine runs against the suite's app (and so under its SQL audit) through the async
`client` fixture: Hypothesis runs in a worker thread, and each request is scheduled on the
test's event loop.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.conformance.conftest import FUZZ
from tests.helpers import CursorWalk, most_pages, todo_url, todos_url

Request = Callable[..., httpx.Response]
USER_NAMES = ("alice", "bob", "carol")
# Few characters, so that search terms match often; `%`, `_` and `\` must match themselves.
TEXT = st.text(alphabet="abAB%_\\ ", min_size=0, max_size=6)
TITLES = TEXT.filter(lambda text: text.strip() != "")
DESCRIPTIONS = st.none() | TEXT
PRIORITIES = st.sampled_from(["none", "low", "medium", "high"])
# Tags differing only in case are one tag, for the filters as for the stats.
TAG_SETS = st.lists(st.sampled_from(["home", "Home", "work"]), max_size=2)


@dataclass(frozen=True)
class ModelTodo:
    """What the API should return for one todo."""

    id: str
    user_id: str
    title: str
    description: str | None
    is_completed: bool
    priority: str
    tags: tuple[str, ...]
    created_at: str
    updated_at: str

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> "ModelTodo":
        fields = {field: body[field] for field in cls.__dataclass_fields__}
        return cls(**{**fields, "tags": tuple(fields["tags"])})

    def bulk_matches(self, is_completed: bool | None, tag: str | None) -> bool:
        """The bulk operations' filters: completion, and a tag in any case."""
        if is_completed is not None and self.is_completed != is_completed:
            return False
        return tag is None or tag.lower() in {t.lower() for t in self.tags}

    @property
    def position(self) -> tuple[datetime, uuid.UUID]:
        """The list order: by creation time, then by id."""
        return datetime.fromisoformat(self.created_at), uuid.UUID(self.id)

    def matches(self, is_completed: bool | None, q: str) -> bool:
        if is_completed is not None and self.is_completed != is_completed:
            return False
        needle = q.lower()
        return not q or any(
            needle in (text or "").lower() for text in (self.title, self.description)
        )


def _same(body: dict[str, Any], todo: ModelTodo) -> None:
    assert ModelTodo.from_api(body) == todo, (body, todo)


def _not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Todo not found.", "error_code": "NOT_FOUND"}


def isolation_machine(request: Request) -> type[RuleBasedStateMachine]:
    """The state machine class, sending its requests through `request`."""

    class Isolation(RuleBasedStateMachine):
        todos = Bundle("todos")

        def __init__(self) -> None:
            super().__init__()
            # Fresh user ids for every run: runs cannot see each other's todos.
            run = uuid.uuid4().hex[:12]
            self.users = [f"{name}-{run}" for name in USER_NAMES]
            self.model: dict[str, dict[str, ModelTodo]] = {user: {} for user in self.users}

        # --- helpers -------------------------------------------------------------------

        def owned(self, user: str, todo: ModelTodo) -> ModelTodo | None:
            """The model's todo if `user` owns it and it still exists."""
            return self.model[user].get(todo.id) if todo.user_id == user else None

        def expected_list(
            self, user: str, is_completed: bool | None, q: str, order: str
        ) -> list[ModelTodo]:
            todos = [t for t in self.model[user].values() if t.matches(is_completed, q)]
            return sorted(todos, key=lambda t: t.position, reverse=order == "desc")

        def walk(self, user: str, params: dict[str, Any], cursor: str | None = None) -> list[Any]:
            """Every page of a listing, following next_cursor over no more pages than the
            user's todos can fill; checks each page's shape."""
            items: list[Any] = []
            counts = set()
            limit = params.get("limit", 100)
            walk = CursorWalk(most_pages(len(self.model[user]), limit), cursor)
            while True:
                response = request("GET", todos_url(user), params=walk.query(params))
                assert response.status_code == 200, response.text
                page = response.json()
                assert len(page["items"]) <= limit
                counts.add(page["count"])
                items.extend(page["items"])
                if not walk.follow(page):
                    break
                assert page["items"], "a page with a next_cursor must not be empty"
            assert len(counts) == 1, f"count changed between pages: {counts}"
            return [*items, counts.pop()]

        def pick_user(self, index: int) -> str:
            return self.users[index % len(self.users)]

        # --- rules ---------------------------------------------------------------------

        @initialize()
        def nobody_has_todos(self) -> None:
            for user in self.users:
                assert request("GET", todos_url(user)).json()["count"] == 0

        @rule(
            target=todos,
            who=st.integers(0, 2),
            title=TITLES,
            description=DESCRIPTIONS,
            is_completed=st.booleans(),
        )
        def create(
            self, who: int, title: str, description: str | None, is_completed: bool
        ) -> ModelTodo:
            user = self.pick_user(who)
            body = {"title": title, "description": description, "is_completed": is_completed}
            response = request("POST", todos_url(user), json=body)
            assert response.status_code == 201, response.text
            created = response.json()
            assert created["user_id"] == user
            assert (created["title"], created["description"], created["is_completed"]) == (
                title.strip(),
                description,
                is_completed,
            )
            assert created["created_at"] == created["updated_at"]
            todo = ModelTodo.from_api(created)
            self.model[user][todo.id] = todo
            return todo

        @rule(
            target=todos,
            who=st.integers(0, 2),
            batch=st.lists(
                st.fixed_dictionaries(
                    {"title": TITLES}, optional={"priority": PRIORITIES, "tags": TAG_SETS}
                ),
                min_size=1,
                max_size=3,
            ),
        )
        def bulk_create(self, who: int, batch: list[dict[str, Any]]) -> Any:
            user = self.pick_user(who)
            response = request("POST", f"{todos_url(user)}/bulk", json={"todos": batch})
            assert response.status_code == 201, response.text
            items = response.json()["items"]
            assert len(items) == len(batch)
            created = []
            for sent, item in zip(batch, items, strict=True):
                assert item["user_id"] == user
                assert item["title"] == sent["title"].strip()
                todo = ModelTodo.from_api(item)
                self.model[user][todo.id] = todo
                created.append(todo)
            return multiple(*created)

        @rule(todo=todos, who=st.integers(0, 2))
        def get(self, todo: ModelTodo, who: int) -> None:
            user = self.pick_user(who)
            response = request("GET", todo_url(user, todo.id))
            expected = self.owned(user, todo)
            if expected is None:
                _not_found(response)
            else:
                assert response.status_code == 200, response.text
                _same(response.json(), expected)

        @rule(todo=todos, who=st.integers(0, 2))
        def get_unknown_id(self, todo: ModelTodo, who: int) -> None:
            """A well-formed id nobody created: 404 for everyone, like another user's."""
            del todo
            _not_found(request("GET", todo_url(self.pick_user(who), str(uuid.uuid4()))))

        def write(
            self, user: str, todo: ModelTodo, response: httpx.Response, **changes: Any
        ) -> None:
            """Check a write's answer against the model, and record it."""
            expected = self.owned(user, todo)
            if expected is None:
                _not_found(response)
                return
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["updated_at"] >= expected.updated_at
            updated = replace(expected, **changes, updated_at=body["updated_at"])
            _same(body, updated)
            self.model[user][todo.id] = updated

        @rule(
            todo=todos,
            who=st.integers(0, 2),
            title=TITLES,
            description=DESCRIPTIONS,
            is_completed=st.booleans(),
        )
        def replace_todo(
            self, todo: ModelTodo, who: int, title: str, description: str | None, is_completed: bool
        ) -> None:
            user = self.pick_user(who)
            body = {"title": title, "description": description, "is_completed": is_completed}
            response = request("PUT", todo_url(user, todo.id), json=body)
            self.write(
                user,
                todo,
                response,
                title=title.strip(),
                description=description,
                is_completed=is_completed,
            )

        @rule(
            todo=todos,
            who=st.integers(0, 2),
            changes=st.fixed_dictionaries(
                {},
                optional={
                    "title": TITLES,
                    "description": DESCRIPTIONS,
                    "is_completed": st.booleans(),
                },
            ),
        )
        def patch(self, todo: ModelTodo, who: int, changes: dict[str, Any]) -> None:
            user = self.pick_user(who)
            response = request("PATCH", todo_url(user, todo.id), json=changes)
            expected = self.owned(user, todo)
            if expected is not None and not changes:
                # An empty patch changes nothing, not even updated_at.
                assert response.status_code == 200, response.text
                _same(response.json(), expected)
                return
            if "title" in changes:
                changes = {**changes, "title": changes["title"].strip()}
            self.write(user, todo, response, **changes)

        @rule(todo=todos, who=st.integers(0, 2))
        def complete(self, todo: ModelTodo, who: int) -> None:
            user = self.pick_user(who)
            response = request("PATCH", f"{todo_url(user, todo.id)}/complete")
            expected = self.owned(user, todo)
            flipped = {} if expected is None else {"is_completed": not expected.is_completed}
            self.write(user, todo, response, **flipped)

        @rule(todo=todos, who=st.integers(0, 2))
        def delete(self, todo: ModelTodo, who: int) -> None:
            user = self.pick_user(who)
            response = request("DELETE", todo_url(user, todo.id))
            if self.owned(user, todo) is None:
                _not_found(response)
            else:
                assert response.status_code == 204, response.text
                assert response.content == b""
                del self.model[user][todo.id]

        @rule(
            who=st.integers(0, 2),
            is_completed=st.none() | st.booleans(),
            q=TEXT,
            order=st.sampled_from(["asc", "desc"]),
            limit=st.integers(1, 3),
        )
        def list_pages(
            self, who: int, is_completed: bool | None, q: str, order: str, limit: int
        ) -> None:
            """Walk every page of a filtered listing; together they are the model's list."""
            user = self.pick_user(who)
            params: dict[str, Any] = {"order": order, "limit": limit, "q": q}
            if is_completed is not None:
                params["is_completed"] = str(is_completed).lower()
            *items, count = self.walk(user, params)
            expected = self.expected_list(user, is_completed, q, order)
            assert count == len(expected)
            assert [ModelTodo.from_api(item) for item in items] == expected

        @rule(
            owner=st.integers(0, 2), who=st.integers(0, 2), order=st.sampled_from(["asc", "desc"])
        )
        def list_with_another_users_cursor(self, owner: int, who: int, order: str) -> None:
            """A cursor is bound to the listing it came from: another user's is a 422 that
            shows nothing, and the owner's own continues from its position."""
            cursor_owner, user = self.pick_user(owner), self.pick_user(who)
            response = request("GET", todos_url(cursor_owner), params={"limit": 1, "order": order})
            page = response.json()
            if page["next_cursor"] is None:
                return
            params = {"order": order, "limit": 2, "cursor": page["next_cursor"]}
            answer = request("GET", todos_url(user), params=params)
            if user != cursor_owner:
                assert answer.status_code == 422, answer.text
                fields = [error["field"] for error in answer.json()["field_errors"]]
                assert fields == ["query.cursor"]
                return
            position = ModelTodo.from_api(page["items"][0]).position
            *items, count = self.walk(user, {"order": order, "limit": 2}, page["next_cursor"])
            mine = self.expected_list(user, None, "", order)
            after = [
                t
                for t in mine
                if (t.position < position if order == "desc" else t.position > position)
            ]
            assert count == len(mine)
            assert [ModelTodo.from_api(item) for item in items] == after

        def bulk_filters(self, is_completed: bool | None, tag: str | None) -> dict[str, str]:
            params = {}
            if is_completed is not None:
                params["is_completed"] = str(is_completed).lower()
            if tag is not None:
                params["tag"] = tag
            return params

        @rule(
            who=st.integers(0, 2),
            is_completed=st.none() | st.booleans(),
            tag=st.none() | st.sampled_from(["HOME", "work"]),
            change=st.fixed_dictionaries(
                {},
                optional={
                    "is_completed": st.booleans(),
                    "priority": PRIORITIES,
                    "tags": TAG_SETS,
                },
            ).filter(bool),
        )
        def bulk_patch(
            self, who: int, is_completed: bool | None, tag: str | None, change: dict[str, Any]
        ) -> None:
            """Changes the acting user's matching todos, counted exactly; nobody else's."""
            user = self.pick_user(who)
            params = self.bulk_filters(is_completed, tag)
            response = request("PATCH", todos_url(user), params=params, json=change)
            assert response.status_code == 200, response.text
            expected = {**change}
            if "tags" in expected:  # deduplicated without regard to case, the first kept
                seen: dict[str, str] = {}
                for t in expected["tags"]:
                    seen.setdefault(t.casefold(), t)
                expected["tags"] = tuple(seen.values())
            changed = {
                t.id: replace(t, **expected)
                for t in self.model[user].values()
                if t.bulk_matches(is_completed, tag) and replace(t, **expected) != t
            }
            assert response.json() == {"updated": len(changed)}
            actual = {
                item["id"]: ModelTodo.from_api(item)
                for item in request("GET", todos_url(user), params={"limit": 1000}).json()["items"]
            }
            for todo_id, todo in list(self.model[user].items()):
                if todo_id in changed:
                    assert actual[todo_id].updated_at >= todo.updated_at
                    updated = replace(changed[todo_id], updated_at=actual[todo_id].updated_at)
                    self.model[user][todo_id] = updated
                assert actual[todo_id] == self.model[user][todo_id]

        @rule(
            who=st.integers(0, 2),
            is_completed=st.booleans(),
            tag=st.none() | st.sampled_from(["home", "WORK"]),
        )
        def bulk_delete(self, who: int, is_completed: bool, tag: str | None) -> None:
            """Deletes the acting user's matching todos, counted exactly; nobody else's."""
            user = self.pick_user(who)
            params = self.bulk_filters(is_completed, tag)
            response = request("DELETE", todos_url(user), params=params)
            assert response.status_code == 200, response.text
            gone = [t.id for t in self.model[user].values() if t.bulk_matches(is_completed, tag)]
            assert response.json() == {"deleted": len(gone)}
            for todo_id in gone:
                del self.model[user][todo_id]

        @rule(
            who=st.integers(0, 2),
            is_completed=st.none() | st.booleans(),
            tag=st.none() | st.sampled_from(["home", "WORK"]),
        )
        def stats(self, who: int, is_completed: bool | None, tag: str | None) -> None:
            """Counts of the acting user's todos alone, per priority and per tag."""
            user = self.pick_user(who)
            params = {**self.bulk_filters(is_completed, tag), "tz": "Europe/Paris"}
            response = request("GET", f"{todos_url(user)}/stats", params=params)
            assert response.status_code == 200, response.text
            counts = response.json()
            mine = [t for t in self.model[user].values() if t.bulk_matches(is_completed, tag)]
            done = sum(t.is_completed for t in mine)
            assert (counts["total"], counts["completed"], counts["open"]) == (
                len(mine),
                done,
                len(mine) - done,
            )
            assert (counts["overdue"], counts["due_today"]) == (0, 0)  # no due dates here
            for priority, count in counts["by_priority"].items():
                assert count == sum(t.priority == priority for t in mine), counts
            per_tag: dict[str, int] = {}
            for t in mine:
                for key in {name.lower() for name in t.tags}:
                    per_tag[key] = per_tag.get(key, 0) + 1
            assert {row["tag"].lower(): row["total"] for row in counts["by_tag"]} == per_tag

        # --- after every step ----------------------------------------------------------

        @invariant()
        def each_user_sees_exactly_their_own_todos(self) -> None:
            for user in self.users:
                response = request("GET", todos_url(user), params={"limit": 1000})
                assert response.status_code == 200, response.text
                page = response.json()
                expected = self.expected_list(user, None, "", "desc")
                assert page["count"] == len(expected)
                assert [ModelTodo.from_api(item) for item in page["items"]] == expected

    return Isolation


async def test_users_only_ever_see_and_change_their_own_todos(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(client.request(method, url, **kwargs), loop)
        return future.result(timeout=30)

    settings = hypothesis.settings(
        max_examples=FUZZ.scenarios,
        stateful_step_count=FUZZ.steps,
        derandomize=FUZZ.deterministic,
        database=None,
        deadline=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    machine = isolation_machine(request)
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=settings)
