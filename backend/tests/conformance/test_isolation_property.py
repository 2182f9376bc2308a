"""Isolation as a property: random interleaved operations of several users, checked against
an in-memory model after every step.

Hypothesis drives three users through create, bulk create, list (filters, orders, page
sizes, cursors, including another user's cursor), get, replace, patch, complete, delete,
bulk change, bulk delete and stats; and through lists: create, get, rename, delete (empty,
with `?todos=delete` or `?todos=unlist`), todos created in a list or moved to one by PATCH
and PUT, the listing of one list in `sort=position`, and moves (after, before, between
two, to the end, across lists). The acting user is drawn apart from the todo and from the
list, so most of these aim at another user's todo or list (as the path, as `list_id`, or
as a move's neighbour), at a deleted one, or at an id nobody has. After every step, each
user's full list must equal the model of that user's todos, each user's lists (with
`todo_count` and `open_count`) the model of their lists, and each list's manual order the
model's order; every answer must be exactly what the model predicts: another user's todo
or list is a 404 in a path and a 422 naming the field in a body, the same answer as for an
id nobody has, and nothing changes.

And the client-safety features. ETags: a GET with `If-None-Match` (the owner's current
tag, `*`, a weak or a listed one: 304 with no body; a stale one: the item), and
conditional writes (patch, replace, toggle, move and delete of a todo; rename and delete
of a list) with `If-Match`: the current tag (or `*`, or a list holding it) writes, and
the answer's ETag is what a GET then shows; a stale or weak one is a 412 carrying the
current ETag, and nothing changes. Another user's item, or a deleted one, is a 404 whatever
the header says, never a 304 nor a 412. Idempotency keys: creates with a key, repeated
later (by the same user with the same body: exactly the first response, replayed, even
after the todo changed or went; with another body: 422 IDEMPOTENCY_KEY_REUSED; by another
user: a todo of their own), and a refused keyed create, whose retry executes. The change
feed: each user syncs now and then from their last `next`, following `has_more`, and the
copy they keep must then be exactly the model's todos and lists (the lists' counts
aside); no item of another user's is ever in it, no tombstone in a first sync, and
another user's token is a 422 on `query.since`.

The machine runs against the suite's app (and so under its SQL audit) through the async
`client` fixture: Hypothesis runs in a worker thread, and each request is scheduled on the
test's event loop.
"""

import asyncio
import unicodedata
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
from tests.helpers import (
    API,
    CursorWalk,
    assert_error,
    most_pages,
    problem,
    todo_url,
    todos_url,
)


def lists_url(user_id: str) -> str:
    return f"/api/v1/users/{user_id}/lists"


def list_url(user_id: str, list_id: str) -> str:
    return f"{lists_url(user_id)}/{list_id}"


def changes_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/changes"


Request = Callable[..., httpx.Response]
USER_NAMES = ("alice", "bob", "carol")
# Few characters, so that search terms match often; `%`, `_` and `\` must match themselves.
TEXT = st.text(alphabet="abAB%_\\ ", min_size=0, max_size=6)
TITLES = TEXT.filter(lambda text: text.strip() != "")
DESCRIPTIONS = st.none() | TEXT
PRIORITIES = st.sampled_from(["none", "low", "medium", "high"])
# Tags differing only in case are one tag, for the filters as for the stats.
TAG_SETS = st.lists(st.sampled_from(["home", "Home", "work"]), max_size=2)
# Few names, so that they collide often: in case, in spacing, and in Unicode form (NFC).
LIST_NAMES = st.sampled_from(["Work", "WORK", " work ", "Home", "Caf\u00e9", "Cafe\u0301"])
# Which list a request names: none (the key left out), null, one of the acting user's (by
# index), any list ever created (mostly another user's, or deleted), or an id nobody has.
LIST_CHOICES = st.tuples(
    st.sampled_from(["absent", "null", "own", "own", "any", "nobody"]), st.integers(0, 50)
)
# Where a move puts a todo, and where its neighbours are drawn from: the target list's own
# todos, or any todo ever created (another user's, another list's, a deleted one).
PLACES = st.sampled_from(["end", "after", "before", "between", "between", "apart"])
NEIGHBOURS = st.sampled_from(["target", "target", "target", "any"])
# Which entity tag a conditional request sends: the item's current one (alone, in a list
# of tags, or as `W/` weak), `*`, or a stale one (an earlier version's, or one never
# issued).
TAG_CHOICES = st.sampled_from(["current", "current", "listed", "star", "weak", "stale", "stale"])
# What a conditional write of a todo does.
TODO_WRITES = st.sampled_from(["patch", "put", "complete", "move", "delete"])


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
    list_id: str | None
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


@dataclass(frozen=True)
class ModelList:
    """What the API should return for one list, but its counts (from the model's todos)."""

    id: str
    user_id: str
    name: str
    created_at: str
    updated_at: str

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> "ModelList":
        return cls(**{field: body[field] for field in cls.__dataclass_fields__})

    @property
    def position(self) -> tuple[datetime, uuid.UUID]:
        """The lists' order: oldest first, then by id."""
        return datetime.fromisoformat(self.created_at), uuid.UUID(self.id)


def _list_name(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


def _same(body: dict[str, Any], todo: ModelTodo) -> None:
    assert ModelTodo.from_api(body) == todo, (body, todo)


def _not_found(response: httpx.Response, what: str = "Todo") -> None:
    assert response.status_code == 404, response.text
    assert response.json() == problem(404, "NOT_FOUND", f"{what} not found.")


def _etag(response: httpx.Response) -> str:
    """The response's ETag: one strong entity tag."""
    etag: str = response.headers.get("etag", "")
    assert len(etag) > 2, response.headers
    assert etag[0] == etag[-1] == '"', response.headers
    return etag


@dataclass(frozen=True)
class Keyed:
    """A create sent with an Idempotency-Key, and the first response it got."""

    user: str
    key: str
    body: dict[str, Any]
    status: int
    content: bytes
    location: str | None
    etag: str


def _refused(response: httpx.Response, allowed: set[str]) -> None:
    """One of the answers in `allowed`: "404 Todo", "404 List", "409 CONFLICT",
    "409 LIST_NOT_EMPTY", or a 422's field (its only one)."""
    body = response.json()
    if response.status_code == 404:
        what = body.get("detail", "").removesuffix(" not found.")
        assert f"404 {what}" in allowed, (allowed, response.text)
        _not_found(response, what)
    elif response.status_code == 409:
        assert f"409 {body['error_code']}" in allowed, (allowed, response.text)
    else:
        assert response.status_code == 422, (allowed, response.text)
        assert body["error_code"] == "VALIDATION_ERROR", body
        fields = [error["field"] for error in body["field_errors"]]
        assert len(fields) == 1, body
        assert fields[0] in allowed, (allowed, body)


def isolation_machine(request: Request) -> type[RuleBasedStateMachine]:
    """The state machine class, sending its requests through `request`."""

    class Isolation(RuleBasedStateMachine):
        todos = Bundle("todos")
        todo_lists = Bundle("todo_lists")

        def __init__(self) -> None:
            super().__init__()
            # Fresh user ids for every run: runs cannot see each other's todos.
            run = uuid.uuid4().hex[:12]
            self.users = [f"{name}-{run}" for name in USER_NAMES]
            self.model: dict[str, dict[str, ModelTodo]] = {user: {} for user in self.users}
            self.lists: dict[str, dict[str, ModelList]] = {user: {} for user in self.users}
            # Each user's manual order of each list (None: no list), as todo ids.
            self.order: dict[str, dict[str | None, list[str]]] = {
                user: {None: []} for user in self.users
            }
            # Every list and todo ever created, of every user, deleted ones too.
            self.every_list: list[ModelList] = []
            self.every_todo: list[ModelTodo] = []
            # Every ETag seen, per todo or list id: all but the current one are stale.
            self.tags: dict[str, set[str]] = {}
            # The creates sent with a key, by (user, key); and every key, in order.
            self.keyed: dict[tuple[str, str], Keyed] = {}
            self.keys: list[str] = []
            # Each user's change feed: the last `next`, and the copy it keeps, by (type, id).
            self.tokens: dict[str, str | None] = dict.fromkeys(self.users)
            self.synced: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
                user: {} for user in self.users
            }
            self.renames = 0

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

        def add_todo(self, todo: ModelTodo) -> None:
            """A new todo, at the end of its list."""
            self.model[todo.user_id][todo.id] = todo
            self.order[todo.user_id][todo.list_id].append(todo.id)
            self.every_todo.append(todo)

        def drop_todo(self, user: str, todo_id: str) -> None:
            todo = self.model[user].pop(todo_id)
            self.order[user][todo.list_id].remove(todo_id)

        def owns_list(self, user: str, list_id: str | None) -> bool:
            """`list_id` is null (no list) or one of `user`'s lists, still there."""
            return list_id is None or list_id in self.lists[user]

        def pick_list(self, user: str, choice: tuple[str, int]) -> tuple[bool, str | None]:
            """(whether to send `list_id` at all, and which) for a LIST_CHOICES draw."""
            kind, index = choice
            own = sorted(self.lists[user])
            if kind == "own" and own:
                return True, own[index % len(own)]
            if kind == "any" and self.every_list:
                return True, self.every_list[index % len(self.every_list)].id
            if kind == "nobody":
                return True, str(uuid.uuid4())
            return kind != "absent", None

        def counts(self, user: str, list_id: str) -> tuple[int, int]:
            todos = [t for t in self.model[user].values() if t.list_id == list_id]
            return len(todos), sum(not t.is_completed for t in todos)

        def list_body(self, todo_list: ModelList) -> dict[str, Any]:
            todo_count, open_count = self.counts(todo_list.user_id, todo_list.id)
            return {
                **todo_list.__dict__,
                "todo_count": todo_count,
                "open_count": open_count,
            }

        def name_taken(self, user: str, name: str, but: str | None = None) -> bool:
            return any(
                other.name.lower() == name.lower()
                for other in self.lists[user].values()
                if other.id != but
            )

        def relist(self, user: str, todo: ModelTodo, list_id: str | None) -> None:
            """A PATCH or PUT of `list_id`: to the end of the new list; in the same one,
            it keeps its place."""
            if todo.list_id != list_id:
                self.order[user][todo.list_id].remove(todo.id)
                self.order[user][list_id].append(todo.id)

        def position_items(self, user: str, list_key: str) -> list[Any]:
            """One list's todos (`list_key`: an id or "none") in `sort=position` order."""
            params = {"list_id": list_key, "sort": "position", "limit": 1000}
            response = request("GET", todos_url(user), params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["next_cursor"] is None
            assert page["count"] == len(page["items"])
            items: list[Any] = page["items"]
            return items

        def saw(self, item_id: str, response: httpx.Response) -> str:
            """Record the ETag of an answer carrying one item; it must have one."""
            etag = _etag(response)
            self.tags.setdefault(item_id, set()).add(etag)
            return etag

        def current_tag(self, kind: str, item_id: str, owner: str) -> str | None:
            """The owner's GET of a todo or list: its ETag, the body checked against the
            model; None (after a 404) if it is gone."""
            if kind == "todo":
                response = request("GET", todo_url(owner, item_id))
                expected = self.model[owner].get(item_id)
                if expected is None:
                    _not_found(response)
                    return None
                assert response.status_code == 200, response.text
                _same(response.json(), expected)
            else:
                response = request("GET", list_url(owner, item_id))
                todo_list = self.lists[owner].get(item_id)
                if todo_list is None:
                    _not_found(response, "List")
                    return None
                assert response.status_code == 200, response.text
                assert response.json() == self.list_body(todo_list)
            return self.saw(item_id, response)

        def tag_to_send(self, item_id: str, current: str | None, choice: str) -> str:
            """The header value for a TAG_CHOICES draw. A stale tag is one of the item's
            earlier versions if one was seen, else one never issued."""
            tag = current or '"gone"'
            if choice == "listed":
                return f'"nope", {tag}'
            if choice == "star":
                return "*"
            if choice == "weak":
                return f"W/{tag}"
            if choice == "stale":
                stale = sorted(self.tags.get(item_id, set()) - {tag})
                return stale[0] if stale else '"never-issued"'
            return tag

        def precondition_failed(self, response: httpx.Response, current: str) -> None:
            """A 412 carrying the current ETag (and, the invariants check, no change)."""
            assert_error(response, 412, "PRECONDITION_FAILED")
            assert response.headers["etag"] == current

        # --- rules ---------------------------------------------------------------------

        @initialize(target=todo_lists)
        def everyone_starts_with_a_list_of_three_todos(self) -> Any:
            """Nobody has todos or lists yet; then each user gets one list holding three
            todos, so that every run has orders to change, across users too."""
            created = []
            for user in self.users:
                # (The other initialize rule may have run first.)
                count = request("GET", todos_url(user)).json()["count"]
                assert count == len(self.model[user]) <= 1
                assert request("GET", lists_url(user)).json()["count"] == 0
                response = request("POST", lists_url(user), json={"name": "Inbox"})
                assert response.status_code == 201, response.text
                todo_list = ModelList.from_api(response.json())
                self.lists[user][todo_list.id] = todo_list
                self.order[user][todo_list.id] = []
                self.every_list.append(todo_list)
                created.append(todo_list)
                for title in ("one", "two", "three"):
                    body = {"title": title, "list_id": todo_list.id}
                    response = request("POST", todos_url(user), json=body)
                    assert response.status_code == 201, response.text
                    self.add_todo(ModelTodo.from_api(response.json()))
            return multiple(*created)

        @initialize(target=todos)
        def everyone_has_a_todo_in_no_list(self) -> Any:
            """A todo of each user's to aim at from the first step (the lists' todos are
            reached through their lists and moves)."""
            created = []
            for user in self.users:
                response = request("POST", todos_url(user), json={"title": "first"})
                assert response.status_code == 201, response.text
                todo = ModelTodo.from_api(response.json())
                self.add_todo(todo)
                created.append(todo)
            return multiple(*created)

        @rule(
            target=todos,
            who=st.integers(0, 2),
            title=TITLES,
            description=DESCRIPTIONS,
            is_completed=st.booleans(),
            in_list=LIST_CHOICES,
        )
        def create(
            self,
            who: int,
            title: str,
            description: str | None,
            is_completed: bool,
            in_list: tuple[str, int],
        ) -> Any:
            user = self.pick_user(who)
            body: dict[str, Any] = {
                "title": title,
                "description": description,
                "is_completed": is_completed,
            }
            send, list_id = self.pick_list(user, in_list)
            if send:
                body["list_id"] = list_id
            response = request("POST", todos_url(user), json=body)
            if not self.owns_list(user, list_id):
                # Another user's list, a deleted one, or nobody's: the same 422.
                _refused(response, {"body.list_id"})
                return multiple()
            assert response.status_code == 201, response.text
            created = response.json()
            assert created["user_id"] == user
            assert (created["title"], created["description"], created["is_completed"]) == (
                title.strip(),
                description,
                is_completed,
            )
            assert created["list_id"] == list_id
            assert created["created_at"] == created["updated_at"]
            todo = ModelTodo.from_api(created)
            self.add_todo(todo)
            return todo

        @rule(
            target=todos,
            who=st.integers(0, 2),
            batch=st.lists(
                st.fixed_dictionaries(
                    {"title": TITLES},
                    optional={"priority": PRIORITIES, "tags": TAG_SETS, "list_id": LIST_CHOICES},
                ),
                min_size=1,
                max_size=3,
            ),
        )
        def bulk_create(self, who: int, batch: list[dict[str, Any]]) -> Any:
            user = self.pick_user(who)
            sent_batch = []
            for item in batch:
                sent = dict(item)
                if "list_id" in sent:
                    send, list_id = self.pick_list(user, sent.pop("list_id"))
                    if send:
                        sent["list_id"] = list_id
                sent_batch.append(sent)
            response = request("POST", f"{todos_url(user)}/bulk", json={"todos": sent_batch})
            foreign = [
                index
                for index, sent in enumerate(sent_batch)
                if not self.owns_list(user, sent.get("list_id"))
            ]
            if foreign:  # all or nothing: the first foreign list is named
                _refused(response, {f"body.todos.{foreign[0]}.list_id"})
                return multiple()
            assert response.status_code == 201, response.text
            items = response.json()["items"]
            assert len(items) == len(sent_batch)
            created = []
            for sent, item in zip(sent_batch, items, strict=True):
                assert item["user_id"] == user
                assert item["title"] == sent["title"].strip()
                assert item["list_id"] == sent.get("list_id")
                todo = ModelTodo.from_api(item)
                self.add_todo(todo)  # each at the end of its list, in the order sent
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
                self.saw(todo.id, response)

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
            self.saw(todo.id, response)

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
                self.drop_todo(user, todo.id)

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
                self.drop_todo(user, todo_id)

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
            per_list: dict[str | None, tuple[int, int]] = {}
            for t in mine:
                total, still_open = per_list.get(t.list_id, (0, 0))
                per_list[t.list_id] = (total + 1, still_open + (not t.is_completed))
            by_list = {row["list_id"]: (row["total"], row["open"]) for row in counts["by_list"]}
            assert by_list == per_list, counts["by_list"]

        # --- lists ---------------------------------------------------------------------

        @rule(target=todo_lists, who=st.integers(0, 2), name=LIST_NAMES)
        def create_list(self, who: int, name: str) -> Any:
            user = self.pick_user(who)
            response = request("POST", lists_url(user), json={"name": name})
            if self.name_taken(user, _list_name(name)):
                _refused(response, {"409 CONFLICT"})
                return multiple()
            assert response.status_code == 201, response.text
            body = response.json()
            assert response.headers["location"] == list_url(user, body["id"])
            assert body["user_id"] == user
            assert body["name"] == _list_name(name)
            assert (body["todo_count"], body["open_count"]) == (0, 0)
            assert body["created_at"] == body["updated_at"]
            todo_list = ModelList.from_api(body)
            self.lists[user][todo_list.id] = todo_list
            self.order[user][todo_list.id] = []
            self.every_list.append(todo_list)
            return todo_list

        @rule(todo_list=todo_lists, who=st.integers(0, 2))
        def get_list(self, todo_list: ModelList, who: int) -> None:
            user = self.pick_user(who)
            response = request("GET", list_url(user, todo_list.id))
            if todo_list.id not in self.lists[user]:
                _not_found(response, "List")
                return
            assert response.status_code == 200, response.text
            assert response.json() == self.list_body(self.lists[user][todo_list.id])

        @rule(todo_list=todo_lists, who=st.integers(0, 2), name=st.none() | LIST_NAMES)
        def rename_list(self, todo_list: ModelList, who: int, name: str | None) -> None:
            user = self.pick_user(who)
            changes = {} if name is None else {"name": name}
            response = request("PATCH", list_url(user, todo_list.id), json=changes)
            current = self.lists[user].get(todo_list.id)
            if current is None:
                _not_found(response, "List")
                return
            if name is not None and self.name_taken(user, _list_name(name), but=current.id):
                _refused(response, {"409 CONFLICT"})
                return
            assert response.status_code == 200, response.text
            body = response.json()
            if name is None:  # an empty patch changes nothing, not even updated_at
                assert body == self.list_body(current)
                return
            assert body["updated_at"] > current.updated_at
            renamed = replace(current, name=_list_name(name), updated_at=body["updated_at"])
            assert body == self.list_body(renamed)
            self.lists[user][current.id] = renamed

        @rule(
            todo_list=todo_lists,
            who=st.integers(0, 2),
            todos=st.sampled_from([None, "delete", "unlist"]),
        )
        def delete_list(self, todo_list: ModelList, who: int, todos: str | None) -> None:
            user = self.pick_user(who)
            params = {} if todos is None else {"todos": todos}
            response = request("DELETE", list_url(user, todo_list.id), params=params)
            if todo_list.id not in self.lists[user]:
                _not_found(response, "List")
                return
            held = list(self.order[user][todo_list.id])
            hypothesis.event("delete list", f"{todos}, {'with' if held else 'without'} todos")
            if held and todos is None:
                _refused(response, {"409 LIST_NOT_EMPTY"})
                return
            assert response.status_code == 204, response.text
            assert response.content == b""
            del self.lists[user][todo_list.id]
            del self.order[user][todo_list.id]
            if todos == "delete" or not held:
                for todo_id in held:
                    del self.model[user][todo_id]
                return
            # Unlisted: at the end of no list, in some order of their own, with a new
            # `updated_at`; everything else in no list keeps its place.
            before = list(self.order[user][None])
            items = self.position_items(user, "none")
            ids = [item["id"] for item in items]
            assert ids[: len(before)] == before, (ids, before)
            assert sorted(ids[len(before) :]) == sorted(held)
            self.order[user][None] = ids
            for item in items[len(before) :]:
                old = self.model[user][item["id"]]
                assert item["updated_at"] > old.updated_at
                self.model[user][old.id] = replace(old, list_id=None, updated_at=item["updated_at"])

        # --- todos in lists ------------------------------------------------------------

        def relisted(
            self, user: str, todo: ModelTodo, list_id: str | None, response: httpx.Response
        ) -> ModelTodo | None:
            """The answer to a PATCH or PUT naming `list_id`: 404 for a todo not the
            user's, 422 naming list_id for a list not theirs (either when both), and
            nothing changed; else the todo as it now is, and its place recorded."""
            expected = self.owned(user, todo)
            refusals = set()
            if expected is None:
                refusals.add("404 Todo")
            if not self.owns_list(user, list_id):
                refusals.add("body.list_id")
            if refusals:
                _refused(response, refusals)
                return None
            assert expected is not None
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["list_id"] == list_id
            assert body["updated_at"] >= expected.updated_at
            self.relist(user, expected, list_id)
            return expected

        @rule(todo=todos, who=st.integers(0, 2), in_list=LIST_CHOICES, title=st.none() | TITLES)
        def patch_list_id(
            self, todo: ModelTodo, who: int, in_list: tuple[str, int], title: str | None
        ) -> None:
            user = self.pick_user(who)
            _, list_id = self.pick_list(user, in_list)
            changes: dict[str, Any] = {"list_id": list_id}
            if title is not None:
                changes["title"] = title
            response = request("PATCH", todo_url(user, todo.id), json=changes)
            expected = self.relisted(user, todo, list_id, response)
            if expected is not None:
                updated = replace(
                    expected,
                    list_id=list_id,
                    title=expected.title if title is None else title.strip(),
                    updated_at=response.json()["updated_at"],
                )
                _same(response.json(), updated)
                self.model[user][todo.id] = updated

        @rule(todo=todos, who=st.integers(0, 2), in_list=LIST_CHOICES, title=TITLES)
        def replace_with_list_id(
            self, todo: ModelTodo, who: int, in_list: tuple[str, int], title: str
        ) -> None:
            """A PUT naming `list_id` moves the todo like a PATCH; one without it (the
            other PUTs) leaves the todo where it is."""
            user = self.pick_user(who)
            _, list_id = self.pick_list(user, in_list)
            body = {"title": title, "description": None, "is_completed": False}
            response = request("PUT", todo_url(user, todo.id), json={**body, "list_id": list_id})
            expected = self.relisted(user, todo, list_id, response)
            if expected is not None:
                updated = replace(
                    expected,
                    title=title.strip(),
                    description=None,
                    is_completed=False,
                    list_id=list_id,
                    updated_at=response.json()["updated_at"],
                )
                _same(response.json(), updated)
                self.model[user][todo.id] = updated

        def pick_neighbours(
            self, target: list[str], place: str, source: str, index: int
        ) -> tuple[str | None, str | None]:
            """(after, before) for a move: around a place in `target` (the target list's
            order without the moved todo) or any todo ever created."""
            if source == "any" and self.every_todo:
                every = self.every_todo
                one, other = every[index % len(every)].id, every[(index + 1) % len(every)].id
            elif target:
                one = target[index % len(target)]
                other = target[(index + 1) % len(target)]
                if place == "apart" and len(target) > 2:  # not neighbours
                    other = target[(index + 2) % len(target)]
            else:
                return None, None
            if place == "after":
                return one, None
            if place == "before":
                return None, one
            if place in {"between", "apart"}:
                return one, other
            return None, None

        def move_refusals(
            self, user: str, todo: ModelTodo, body: dict[str, Any], target: list[str]
        ) -> set[str]:
            """What a move must answer if it cannot be made (any one of them when several
            apply): the todo itself as a neighbour, a list not the user's, a todo not the
            user's, a neighbour not in `target`, or two neighbours that are not."""
            after, before = body.get("after"), body.get("before")
            refusals = {f"body.{key}" for key in ("after", "before") if body.get(key) == todo.id}
            if "list_id" in body and not self.owns_list(user, body["list_id"]):
                refusals.add("body.list_id")
            if self.owned(user, todo) is None:
                refusals.add("404 Todo")
            if refusals:
                return refusals
            if after is not None and after not in target:
                refusals.add("body.after")
            if before is not None and before not in target:
                refusals.add("body.before")
            if refusals or after is None or before is None:
                return refusals
            if target.index(before) != target.index(after) + 1:
                refusals.add("body")
            return refusals

        @rule(
            todo=todos,
            who=st.integers(0, 2),
            to_list=LIST_CHOICES,
            place=PLACES,
            source=NEIGHBOURS,
            index=st.integers(0, 50),
            mine=st.booleans(),
        )
        def move(
            self,
            todo: ModelTodo,
            who: int,
            to_list: tuple[str, int],
            place: str,
            source: str,
            index: int,
            mine: bool,
        ) -> None:
            self.make_move(todo, who, to_list, place, source, index, mine=mine)

        @rule(todo=todos, who=st.integers(0, 2), place=PLACES, index=st.integers(0, 50))
        def move_within_its_list(self, todo: ModelTodo, who: int, place: str, index: int) -> None:
            """One of the user's todos, to a place among its own list's (no list_id)."""
            self.make_move(todo, who, ("absent", 0), place, "target", index, mine=True)

        @rule(
            todo=todos,
            who=st.integers(0, 2),
            place=PLACES,
            source=NEIGHBOURS,
            index=st.integers(0, 50),
        )
        def move_to_one_of_their_lists(
            self, todo: ModelTodo, who: int, place: str, source: str, index: int
        ) -> None:
            """One of the user's todos, to one of their lists (or none)."""
            self.make_move(todo, who, ("own", index), place, source, index, mine=True)

        def make_move(
            self,
            todo: ModelTodo,
            who: int,
            to_list: tuple[str, int],
            place: str,
            source: str,
            index: int,
            *,
            mine: bool,
        ) -> None:
            """A move, checked against the model of the order: after A is just after A,
            before B just before B, between A and B (neighbours) between them, with
            neither at the end; anything of another user's (the todo, the list, a
            neighbour) is refused, the same as an id nobody has, and nothing moves. Half
            the moves take one of the acting user's own todos, so that most of those can
            be made."""
            user = self.pick_user(who)
            own = sorted(self.model[user])
            if mine and own:
                todo = self.model[user][own[index % len(own)]]
            expected = self.owned(user, todo)
            send, list_id = self.pick_list(user, to_list)
            target_key = list_id if send else (expected.list_id if expected else None)
            target = [i for i in self.order[user].get(target_key, []) if i != todo.id]
            after, before = self.pick_neighbours(target, place, source, index)
            body: dict[str, Any] = {"after": after, "before": before}
            if index % 3:  # a null neighbour is the same as one left out
                body = {key: value for key, value in body.items() if value is not None}
            if send:
                body["list_id"] = list_id
            response = request("POST", f"{todo_url(user, todo.id)}/move", json=body)
            refusals = self.move_refusals(user, todo, body, target)
            hypothesis.event("move", ", ".join(sorted(refusals)) or f"made: {place}")
            if refusals:
                _refused(response, refusals)
                return
            assert expected is not None
            assert response.status_code == 200, response.text
            moved = response.json()
            assert moved["updated_at"] > expected.updated_at
            updated = replace(expected, list_id=target_key, updated_at=moved["updated_at"])
            _same(moved, updated)
            if after is not None:
                spot = target.index(after) + 1
            elif before is not None:
                spot = target.index(before)
            else:
                spot = len(target)
            self.order[user][expected.list_id].remove(todo.id)
            target.insert(spot, todo.id)
            self.order[user][target_key] = target
            self.model[user][todo.id] = updated

        @rule(who=st.integers(0, 2), in_list=LIST_CHOICES, limit=st.integers(1, 3))
        def list_position_pages(self, who: int, in_list: tuple[str, int], limit: int) -> None:
            """One list's todos in the manual order, a page at a time: the model's order.
            Another user's list (or nobody's) holds none of the caller's todos."""
            user = self.pick_user(who)
            _, list_id = self.pick_list(user, in_list)
            params = {"list_id": list_id or "none", "sort": "position", "limit": limit}
            *items, count = self.walk(user, params)
            expected = self.order[user].get(list_id, []) if self.owns_list(user, list_id) else []
            assert count == len(expected)
            assert [item["id"] for item in items] == expected
            for item in items:
                _same(item, self.model[user][item["id"]])

        @rule(who=st.integers(0, 2), owner=st.integers(0, 2))
        def position_cursor_of_another_list(self, who: int, owner: int) -> None:
            """A cursor of one user's list in `sort=position` continues only that
            listing: for another user, even on the same list id, it is a 422."""
            cursor_owner, user = self.pick_user(owner), self.pick_user(who)
            keys = [key for key, ids in self.order[cursor_owner].items() if len(ids) > 1]
            if not keys or user == cursor_owner:
                return
            key = keys[0] or "none"
            params = {"list_id": key, "sort": "position", "limit": 1}
            page = request("GET", todos_url(cursor_owner), params=params).json()
            assert page["next_cursor"] is not None
            answer = request(
                "GET", todos_url(user), params={**params, "cursor": page["next_cursor"]}
            )
            _refused(answer, {"query.cursor"})

        @rule(who=st.integers(0, 2), limit=st.integers(1, 2))
        def list_lists_pages(self, who: int, limit: int) -> None:
            """The user's lists a page at a time, oldest first, each with its counts."""
            user = self.pick_user(who)
            items: list[Any] = []
            walk = CursorWalk(most_pages(len(self.lists[user]), limit))
            while True:
                response = request("GET", lists_url(user), params=walk.query({"limit": limit}))
                assert response.status_code == 200, response.text
                page = response.json()
                assert page["count"] == len(self.lists[user])
                items.extend(page["items"])
                if not walk.follow(page):
                    break
            expected = sorted(self.lists[user].values(), key=lambda t: t.position)
            assert items == [self.list_body(todo_list) for todo_list in expected]

        # --- conditional requests ------------------------------------------------------

        def conditional_get(
            self, kind: str, item_id: str, owner: str, who: int, choice: str
        ) -> None:
            """A GET of one todo or list by `who`, with `If-None-Match` drawn from the
            owner's current tag: 304 for the owner when it matches (weakly), the item
            when it is stale; for anyone else a 404, never a 304."""
            user = self.pick_user(who)
            current = self.current_tag(kind, item_id, owner)
            sent = self.tag_to_send(item_id, current, choice)
            url = todo_url(user, item_id) if kind == "todo" else list_url(user, item_id)
            response = request("GET", url, headers={"If-None-Match": sent})
            hypothesis.event("If-None-Match", f"{kind}, {choice}, {user == owner}")
            if user != owner or current is None:
                _not_found(response, "Todo" if kind == "todo" else "List")
                return
            assert response.headers["etag"] == current
            if choice == "stale":
                assert response.status_code == 200, response.text
                if kind == "todo":
                    _same(response.json(), self.model[user][item_id])
                else:
                    assert response.json() == self.list_body(self.lists[user][item_id])
                return
            assert response.status_code == 304, response.text
            assert response.content == b""

        @rule(todo=todos, who=st.integers(0, 2), choice=TAG_CHOICES)
        def get_todo_if_none_match(self, todo: ModelTodo, who: int, choice: str) -> None:
            self.conditional_get("todo", todo.id, todo.user_id, who, choice)

        @rule(todo_list=todo_lists, who=st.integers(0, 2), choice=TAG_CHOICES)
        def get_list_if_none_match(self, todo_list: ModelList, who: int, choice: str) -> None:
            self.conditional_get("list", todo_list.id, todo_list.user_id, who, choice)

        @rule(todo=todos, who=st.integers(0, 2), choice=TAG_CHOICES, op=TODO_WRITES, title=TITLES)
        def conditional_todo_write(
            self, todo: ModelTodo, who: int, choice: str, op: str, title: str
        ) -> None:
            """A write of one todo with `If-Match` drawn from the owner's current tag: a
            match writes (the answer's ETag is the one a GET shows next), a stale or weak
            tag is a 412 with the current ETag; another user's todo or a deleted one is a
            404, whatever the tag."""
            user = self.pick_user(who)
            current = self.current_tag("todo", todo.id, todo.user_id)
            headers = {"If-Match": self.tag_to_send(todo.id, current, choice)}
            url = todo_url(user, todo.id)
            hypothesis.event("If-Match", f"todo {op}, {choice}, {user == todo.user_id}")
            if op == "patch":
                response = request("PATCH", url, json={"title": title}, headers=headers)
            elif op == "put":
                body = {"title": title, "description": None, "is_completed": False}
                response = request("PUT", url, json=body, headers=headers)
            elif op == "complete":
                response = request("PATCH", f"{url}/complete", headers=headers)
            elif op == "move":  # to the end of its own list
                response = request("POST", f"{url}/move", json={}, headers=headers)
            else:
                response = request("DELETE", url, headers=headers)
            expected = self.owned(user, todo)
            if expected is None:
                _not_found(response)
                return
            assert current is not None
            if choice in {"stale", "weak"}:
                self.precondition_failed(response, current)
                return
            if op == "delete":
                assert response.status_code == 204, response.text
                self.drop_todo(user, todo.id)
                return
            if op == "patch":
                self.write(user, todo, response, title=title.strip())
            elif op == "put":
                changes = {"title": title.strip(), "description": None, "is_completed": False}
                self.write(user, todo, response, **changes)
            elif op == "complete":
                self.write(user, todo, response, is_completed=not expected.is_completed)
            else:
                self.write(user, todo, response)
                order = self.order[user][expected.list_id]
                order.remove(todo.id)
                order.append(todo.id)
            new = _etag(response)
            assert new != current
            assert self.current_tag("todo", todo.id, user) == new

        @rule(
            todo_list=todo_lists,
            who=st.integers(0, 2),
            choice=TAG_CHOICES,
            op=st.sampled_from(["rename", "delete"]),
        )
        def conditional_list_write(
            self, todo_list: ModelList, who: int, choice: str, op: str
        ) -> None:
            """A rename (to a new name) or a delete (`?todos=delete`) of a list with
            `If-Match`, as for a todo."""
            user = self.pick_user(who)
            current = self.current_tag("list", todo_list.id, todo_list.user_id)
            headers = {"If-Match": self.tag_to_send(todo_list.id, current, choice)}
            url = list_url(user, todo_list.id)
            hypothesis.event("If-Match", f"list {op}, {choice}, {user == todo_list.user_id}")
            self.renames += 1
            name = f"Renamed {self.renames}"
            if op == "rename":
                response = request("PATCH", url, json={"name": name}, headers=headers)
            else:
                response = request("DELETE", url, params={"todos": "delete"}, headers=headers)
            before = self.lists[user].get(todo_list.id)
            if before is None:
                _not_found(response, "List")
                return
            assert current is not None
            if choice in {"stale", "weak"}:
                self.precondition_failed(response, current)
                return
            if op == "delete":
                assert response.status_code == 204, response.text
                del self.lists[user][todo_list.id]
                for todo_id in self.order[user].pop(todo_list.id):
                    del self.model[user][todo_id]
                return
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["updated_at"] > before.updated_at
            renamed = replace(before, name=name, updated_at=body["updated_at"])
            assert body == self.list_body(renamed)
            self.lists[user][todo_list.id] = renamed
            new = self.saw(todo_list.id, response)
            assert new != current
            assert self.current_tag("list", todo_list.id, user) == new

        # --- idempotency keys ------------------------------------------------------------

        def keyed_post(self, user: str, key: str, body: dict[str, Any]) -> httpx.Response:
            headers = {"Idempotency-Key": key}
            return request("POST", todos_url(user), json=body, headers=headers)

        def executed(
            self, user: str, key: str, body: dict[str, Any], response: httpx.Response
        ) -> ModelTodo | None:
            """A keyed create that was executed: a new todo of `user`'s, recorded with
            its response; or, for a list not theirs, a 422 that stored nothing."""
            assert "idempotent-replayed" not in response.headers, response.headers
            if not self.owns_list(user, body["list_id"]):
                _refused(response, {"body.list_id"})
                return None
            assert response.status_code == 201, response.text
            created = response.json()
            assert created["user_id"] == user
            assert (created["title"], created["list_id"]) == (
                body["title"].strip(),
                body["list_id"],
            )
            todo = ModelTodo.from_api(created)
            self.add_todo(todo)
            etag = self.saw(todo.id, response)
            first = Keyed(
                user, key, body, 201, response.content, response.headers["location"], etag
            )
            self.keyed[user, key] = first
            return todo

        @rule(target=todos, who=st.integers(0, 2), title=TITLES, in_list=LIST_CHOICES)
        def keyed_create(self, who: int, title: str, in_list: tuple[str, int]) -> Any:
            """A create with a new key. Refused (a list not the user's), it stored
            nothing: the same key with a valid body then executes."""
            user = self.pick_user(who)
            key = str(uuid.uuid4())
            self.keys.append(key)
            _, list_id = self.pick_list(user, in_list)
            body = {"title": title, "list_id": list_id}
            todo = self.executed(user, key, body, self.keyed_post(user, key, body))
            hypothesis.event("Idempotency-Key", f"new, executed {todo is not None}")
            if todo is None:
                body = {"title": title, "list_id": None}
                todo = self.executed(user, key, body, self.keyed_post(user, key, body))
            assert todo is not None
            return todo

        @rule(
            target=todos,
            who=st.integers(0, 2),
            index=st.integers(0, 50),
            same_body=st.booleans(),
            quoted=st.booleans(),
        )
        def repeat_key(self, who: int, index: int, same_body: bool, quoted: bool) -> Any:
            """An earlier key again (bare or quoted: the same key). The same user with the
            same body: exactly the first response, replayed, and nothing created, even if
            the todo changed or went since; another body: 422 IDEMPOTENCY_KEY_REUSED.
            Another user: the key is theirs too, and their request is executed."""
            if not self.keys:
                return multiple()
            user, key = self.pick_user(who), self.keys[index % len(self.keys)]
            first = self.keyed.get((user, key))
            if first is None:  # another user's key: sent with that user's body
                first = next(k for (_, name), k in self.keyed.items() if name == key)
            body = first.body if same_body else {**first.body, "title": first.body["title"] + "x"}
            response = self.keyed_post(user, f'"{key}"' if quoted else key, body)
            hypothesis.event("Idempotency-Key", f"same user {first.user == user}, {same_body}")
            if first.user != user:
                return self.executed(user, key, body, response) or multiple()
            if not same_body:
                body = assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
                fields = [error["field"] for error in body["field_errors"]]
                assert fields == ["header.Idempotency-Key"], body
                return multiple()
            assert response.status_code == first.status, response.text
            assert response.content == first.content
            assert response.headers["idempotent-replayed"] == "true"
            assert response.headers["location"] == first.location
            assert response.headers["etag"] == first.etag
            return multiple()

        # --- the change feed -------------------------------------------------------------

        def sync_pass(
            self, user: str, copy: dict[tuple[str, str], dict[str, Any]], limit: int
        ) -> str:
            """A pass of the user's feed from their last `next`, following `has_more`,
            applied to `copy`; the last `next`. Every item is one of the user's own (never
            another user's id), and a first sync has no tombstones."""
            token = self.tokens[user]
            todo_ids = {t.id for t in self.every_todo if t.user_id == user}
            list_ids = {t.id for t in self.every_list if t.user_id == user}
            mine = {"todo": todo_ids, "list": list_ids}
            pages, max_pages = 0, most_pages(len(todo_ids) + len(list_ids), limit) + 1
            while True:
                params: dict[str, Any] = {"limit": limit}
                if token is not None:
                    params["since"] = token
                response = request("GET", changes_url(user), params=params)
                assert response.status_code == 200, response.text
                page = response.json()
                assert len(page["items"]) <= limit
                for item in page["items"]:
                    assert item["id"] in mine[item["type"]], (user, item)
                    if item["data"] is None:
                        assert self.tokens[user] is not None, item  # no tombstone at first
                        assert item["deleted_at"] is not None
                        copy.pop((item["type"], item["id"]), None)
                    else:
                        assert item["deleted_at"] is None
                        assert item["data"]["user_id"] == user, (user, item)
                        assert item["data"]["id"] == item["id"]
                        copy[item["type"], item["id"]] = item["data"]
                next_token: str = page["next"]
                token = next_token
                pages += 1
                if not page["has_more"]:
                    return next_token
                assert pages < max_pages, "the pass does not end"

        def check_copy(self, user: str, copy: dict[tuple[str, str], dict[str, Any]]) -> None:
            """A synced copy is the model's todos and lists (but the lists' counts)."""
            todos = {i: ModelTodo.from_api(d) for (kind, i), d in copy.items() if kind == "todo"}
            assert todos == self.model[user]
            lists = {i: ModelList.from_api(d) for (kind, i), d in copy.items() if kind == "list"}
            assert lists == self.lists[user]

        @rule(who=st.integers(0, 2), limit=st.sampled_from([1, 3, 100]))
        def sync(self, who: int, limit: int) -> None:
            """The user syncs, a page of `limit` at a time, and keeps the copy and the
            token: between two syncs, any number of steps."""
            user = self.pick_user(who)
            hypothesis.event("sync", f"first {self.tokens[user] is None}, limit {limit}")
            self.tokens[user] = self.sync_pass(user, self.synced[user], limit)
            self.check_copy(user, self.synced[user])

        @rule(who=st.integers(0, 2), owner=st.integers(0, 2))
        def sync_with_another_users_token(self, who: int, owner: int) -> None:
            """Another user's `next` is a 422 on `query.since`, whatever it holds."""
            user, token_owner = self.pick_user(who), self.pick_user(owner)
            token = self.tokens[token_owner]
            if token is None or user == token_owner:
                return
            response = request("GET", changes_url(user), params={"since": token})
            _refused(response, {"query.since"})

        # --- after every step ----------------------------------------------------------

        @invariant()
        def each_users_feed_brings_their_copy_up_to_date(self) -> None:
            """From each user's last sync, the feed brings (a scratch copy of) their copy to
            exactly their todos and lists; the copy and token they keep do not move."""
            for user in self.users:
                copy = dict(self.synced[user])
                self.sync_pass(user, copy, 1000)
                self.check_copy(user, copy)

        @invariant()
        def each_user_sees_exactly_their_own_todos(self) -> None:
            for user in self.users:
                response = request("GET", todos_url(user), params={"limit": 1000})
                assert response.status_code == 200, response.text
                page = response.json()
                expected = self.expected_list(user, None, "", "desc")
                assert page["count"] == len(expected)
                assert [ModelTodo.from_api(item) for item in page["items"]] == expected

        @invariant()
        def each_user_sees_exactly_their_own_lists_and_their_order(self) -> None:
            for user in self.users:
                response = request("GET", lists_url(user), params={"limit": 1000})
                assert response.status_code == 200, response.text
                page = response.json()
                expected = sorted(self.lists[user].values(), key=lambda t: t.position)
                assert page["count"] == len(expected)
                assert page["items"] == [self.list_body(todo_list) for todo_list in expected]
                assert set(self.order[user]) == {None, *self.lists[user]}
                for list_id, ids in self.order[user].items():
                    items = self.position_items(user, list_id or "none")
                    assert [item["id"] for item in items] == ids, list_id
                    for item in items:
                        _same(item, self.model[user][item["id"]])
                in_order = sorted(i for ids in self.order[user].values() for i in ids)
                assert in_order == sorted(self.model[user])

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
