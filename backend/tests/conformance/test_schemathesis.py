"""A client nobody here wrote: schemathesis, driven by the app's own OpenAPI document.

Every operation gets generated valid and invalid requests (explicit examples, schemathesis's
coverage scenarios and random fuzzing) and every built-in check runs on each response: no
5xx, the response matches its documented schema, status code, content type and headers,
invalid data is rejected, valid data is accepted, and more. The stateful test follows the
document's links (create, then get, replace, patch, complete, delete; delete, then each of
them again) through random sequences, with the same checks plus use-after-free and
resource availability. The stateful run also gets links from a created todo to the
collection operations (bulk create, bulk change, stats, the list), so those run against
todos that exist, in any order with the rest.

Bounded and deterministic in `make test`; `make fuzz` runs many more examples.
"""

import asyncio
import copy
import re
import threading
from typing import Any

import asyncpg
import hypothesis
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import CheckFunction

from tests.conformance.conftest import FUZZ, AuditedApp, schemathesis_config
from tests.helpers import truncate_every_table
from todo_api.api.conditional import ENTITY_TAGS_PATTERN
from todo_api.api.idempotency import KEY_PATTERN
from todo_api.db.database import pool_options
from todo_api.db.url import parse_database_url
from todo_api.openapi import openapi_document

COLLECTION = "/api/v1/users/{user_id}/todos"
LIST_TODOS = f"GET {COLLECTION}"
TODO_STATS = f"GET {COLLECTION}/stats"
DELETE_TODOS = f"DELETE {COLLECTION}"
CREATE_TODO = f"POST {COLLECTION}"
REPLACE_TODO = f"PUT {COLLECTION}/{{todo_id}}"
PATCH_TODO = f"PATCH {COLLECTION}/{{todo_id}}"
CREATE_TODOS = f"POST {COLLECTION}/bulk"
MOVE_TODO = f"POST {COLLECTION}/{{todo_id}}/move"
LISTS = "/api/v1/users/{user_id}/lists"
LIST_LISTS = f"GET {LISTS}"
CREATE_LIST = f"POST {LISTS}"
LIST_CHANGES = "GET /api/v1/users/{user_id}/changes"
# The operations with a conditional header (If-Match, If-None-Match).
CONDITIONAL = (
    f"GET {COLLECTION}/{{todo_id}}",
    REPLACE_TODO,
    PATCH_TODO,
    f"PATCH {COLLECTION}/{{todo_id}}/complete",
    f"DELETE {COLLECTION}/{{todo_id}}",
    MOVE_TODO,
    f"GET {LISTS}/{{list_id}}",
    f"PATCH {LISTS}/{{list_id}}",
    f"DELETE {LISTS}/{{list_id}}",
)
HEADER_PATTERNS = {
    "If-Match": ENTITY_TAGS_PATTERN,
    "If-None-Match": ENTITY_TAGS_PATTERN,
    "Idempotency-Key": KEY_PATTERN,
}
# The operations schemathesis.toml allows a 422 for valid data (ST202 checks the others).
UNSTATABLE = (
    LIST_TODOS,
    TODO_STATS,
    DELETE_TODOS,
    CREATE_TODO,
    REPLACE_TODO,
    PATCH_TODO,
    CREATE_TODOS,
    MOVE_TODO,
    LIST_LISTS,
    CREATE_LIST,
    LIST_CHANGES,
    *CONDITIONAL,
)
# The operations taking an Idempotency-Key, which schemathesis may send again with
# another body: IDEMPOTENCY_KEY_REUSED, a 422 naming the header.
KEYED = (CREATE_TODO, CREATE_TODOS, MOVE_TODO, CREATE_LIST)
FILTERS = (
    "is_completed",
    "q",
    "priority",
    "tag",
    "due_before",
    "due_after",
    "overdue",
    "list_id",
)

# The document the app serves at /openapi.json (a contract test holds them equal), loaded
# at import so that pytest can list one test per operation.
schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis_config())


def _given(query: dict[str, Any] | None, name: str) -> bool:
    value = (query or {}).get(name)
    return value not in (None, "", [])


def _named(body: object, name: str) -> bool:
    """The body gives `name` a value (not null)."""
    return isinstance(body, dict) and body.get(name) is not None


def _body_fields(case: Case) -> set[str]:
    """The body fields naming one of the user's lists or todos, which a uuid of the right
    shape does not make so (see schemathesis.toml): the todo's `list_id`, each bulk todo's,
    a move's `list_id`, `after` and `before`, and the body when a move's two neighbours
    are not neighbours."""
    label, body = case.operation.label, case.body
    if label in (CREATE_TODO, REPLACE_TODO, PATCH_TODO):
        return {"body.list_id"} if _named(body, "list_id") else set()
    todos = body.get("todos") if isinstance(body, dict) else None
    if label == CREATE_TODOS and isinstance(todos, list):
        return {
            f"body.todos.{index}.list_id"
            for index, todo in enumerate(todos)
            if _named(todo, "list_id")
        }
    if label == MOVE_TODO:
        fields = {f"body.{name}" for name in ("list_id", "after", "before") if _named(body, name)}
        return fields | ({"body"} if {"body.after", "body.before"} <= fields else set())
    return set()


def _unstatable_fields(case: Case) -> set[str]:
    """The fields whose rules the schema cannot state (see schemathesis.toml) and that
    apply to this request: a 422 for valid data may name these and nothing else."""
    label = case.operation.label
    keyed = label in KEYED and "Idempotency-Key" in (case.headers or {})
    return {
        *(["header.Idempotency-Key"] if keyed else []),
        *_headers_off_pattern(case),
        *_rules_of(case),
    }


def _headers_off_pattern(case: Case) -> set[str]:
    """Headers whose value breaks the pattern the document states for them. The coverage
    phase sends some (`If-Match: 0`) as positive data; the 422 that names them is right."""
    headers = case.headers or {}
    return {
        f"header.{name}"
        for name, pattern in HEADER_PATTERNS.items()
        if name in headers and not re.fullmatch(pattern, str(headers[name]))
    }


def _rules_of(case: Case) -> set[str]:
    label = case.operation.label
    if label == LIST_CHANGES:
        return {"query.since"}
    if label == LIST_TODOS:
        both = _given(case.query, "sort") and _given(case.query, "order")
        one_list = (case.query or {}).get("sort") == "position" and not _given(
            case.query, "list_id"
        )
        return {
            "query.cursor",
            *(["query.order"] if both else []),
            *(["query.sort"] if one_list else []),
        }
    if label == LIST_LISTS:
        return {"query.cursor"}
    if label == TODO_STATS:
        return {"query.tz"}
    if label == DELETE_TODOS and not any(_given(case.query, name) for name in FILTERS):
        return {"query"}
    return _body_fields(case)


@schemathesis.check
def only_unstatable_rules_refuse(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Valid data may be refused only by a rule the schema cannot state, and only for its
    field (see schemathesis.toml): a cursor this service did not issue for this listing,
    `sort` with `order`, `sort=position` without `list_id`, a `tz` that is no IANA zone, a
    bulk delete without a filter, a `list_id` not one of the user's lists, a move's
    neighbour not one of the user's todos in its target list, an Idempotency-Key the user
    already used for another request, a change feed's `since` this service did not
    issue for this user."""
    del ctx
    if (
        case.meta is None
        or not case.meta.generation.mode.is_positive
        or case.operation.label not in UNSTATABLE
        or response.status_code != 422
    ):
        return None
    fields = {error["field"] for error in response.json()["field_errors"]}
    allowed = _unstatable_fields(case)
    assert fields <= allowed, f"valid data refused for {sorted(fields - allowed)}"
    return None


EXTRA_CHECKS: list[CheckFunction] = [only_unstatable_rules_refuse]


def _with_collection_links(document: dict[str, Any]) -> dict[str, Any]:
    """The document plus links from a created todo (one or several) to the collection
    operations, with the same user, so the stateful run reaches them with data to act on;
    from created todos to moves (to the end, and next to each other); and from a created
    list to todos created in it and to its order.

    Not to the bulk delete: schemathesis's use-after-free check takes a successful DELETE
    on `.../todos` for the deletion of every todo under it, and fails a later GET of the
    created todo that the filters left alone. The bulk delete gets the per-operation
    test, and the isolation state machine runs it among the other operations."""
    document = copy.deepcopy(document)
    paths = document["paths"]
    same_user = {"user_id": "$request.path.user_id"}
    targets = {
        "ListTodos": ("get", COLLECTION),
        "PatchTodos": ("patch", COLLECTION),
        "CreateTodos": ("post", f"{COLLECTION}/bulk"),
        "GetTodoStats": ("get", f"{COLLECTION}/stats"),
    }
    links = {
        name: {"operationId": paths[path][method]["operationId"], "parameters": same_user}
        for name, (method, path) in targets.items()
    }
    created = paths[COLLECTION]["post"]["responses"]["201"]
    created["links"] = {**created.get("links", {}), **links}
    move = paths[f"{COLLECTION}/{{todo_id}}/move"]["post"]["operationId"]
    created["links"]["MoveTodoToTheEnd"] = {
        "operationId": move,
        "parameters": {**same_user, "todo_id": "$response.body#/id"},
        "requestBody": {"list_id": "$response.body#/list_id", "after": None, "before": None},
    }
    bulk = paths[f"{COLLECTION}/bulk"]["post"]["responses"]["201"]
    bulk["links"] = {
        **links,
        "GetFirstTodo": {
            "operationId": paths[f"{COLLECTION}/{{todo_id}}"]["get"]["operationId"],
            "parameters": {**same_user, "todo_id": "$response.body#/items/0/id"},
        },
        # Moves with a real neighbour: the first todo just after the second, in its list,
        # and the second just before the first.
        "MoveFirstAfterSecond": {
            "operationId": move,
            "parameters": {**same_user, "todo_id": "$response.body#/items/0/id"},
            "requestBody": {
                "list_id": "$response.body#/items/1/list_id",
                "after": "$response.body#/items/1/id",
            },
        },
        "MoveSecondBeforeFirst": {
            "operationId": move,
            "parameters": {**same_user, "todo_id": "$response.body#/items/1/id"},
            "requestBody": {
                "list_id": "$response.body#/items/0/list_id",
                "before": "$response.body#/items/0/id",
            },
        },
    }
    # From a new list to todos in it (one, and two at once), and to its manual order.
    list_created = paths[LISTS]["post"]["responses"]["201"]
    in_the_list = "$response.body#/id"
    list_created["links"] = {
        **list_created.get("links", {}),
        "CreateTodoInList": {
            "operationId": paths[COLLECTION]["post"]["operationId"],
            "parameters": same_user,
            "requestBody": {"title": "In the list", "list_id": in_the_list},
        },
        "CreateTodosInList": {
            "operationId": paths[f"{COLLECTION}/bulk"]["post"]["operationId"],
            "parameters": same_user,
            "requestBody": {
                "todos": [
                    {"title": "First", "list_id": in_the_list},
                    {"title": "Second", "list_id": in_the_list},
                ]
            },
        },
        "ListTodosInListByPosition": {
            "operationId": paths[COLLECTION]["get"]["operationId"],
            "parameters": {**same_user, "query.list_id": in_the_list, "query.sort": "position"},
        },
        "ListLists": {
            "operationId": paths[LISTS]["get"]["operationId"],
            "parameters": same_user,
        },
    }
    return document


stateful_schema = schemathesis.openapi.from_dict(
    _with_collection_links(openapi_document()), config=schemathesis_config()
)


@schema.parametrize()
def test_every_operation_conforms_to_the_document(case: Case, conformance_app: AuditedApp) -> None:
    case.call_and_validate(app=conformance_app, additional_checks=EXTRA_CHECKS)


def _empty_the_tables(app: AuditedApp) -> None:
    """No todos and no lists, from a thread and a loop of its own (schemathesis drives
    the app from its own)."""
    assert app.settings.database_url is not None
    url = parse_database_url(app.settings.database_url.get_secret_value())
    connect_kwargs = pool_options(url, app.settings).connect_kwargs

    async def truncate() -> None:
        connection = await asyncpg.connect(**connect_kwargs)
        try:
            await connection.execute(truncate_every_table())
        finally:
            await connection.close()

    worker = threading.Thread(target=asyncio.run, args=(truncate(),))
    worker.start()
    worker.join()


def test_linked_operations_conform_in_any_order(conformance_app: AuditedApp) -> None:
    base = stateful_schema.as_state_machine()

    # The state machine class is made at run time, which type checkers cannot follow.
    class Links(base):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            """Each scenario starts from no todos and no lists: what a step answers
            (a 204 or a 404 for a list or todo found in a listing, a 201 or a 409 for a
            list name) must depend on the scenario alone, or Hypothesis cannot replay
            and shrink it (FlakyStrategyDefinition under `make fuzz`)."""
            _empty_the_tables(conformance_app)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"app": conformance_app}

        def validate_response(
            self,
            response: Response,
            case: Case,
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            super().validate_response(
                response, case, [*(additional_checks or []), *EXTRA_CHECKS], **kwargs
            )

    Links.run(
        settings=hypothesis.settings(
            max_examples=FUZZ.scenarios,
            stateful_step_count=10,
            derandomize=FUZZ.deterministic,
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
        )
    )
