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

import copy
from typing import Any

import hypothesis
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import CheckFunction

from tests.conformance.conftest import FUZZ, AuditedApp, schemathesis_config
from todo_api.openapi import openapi_document

COLLECTION = "/api/v1/users/{user_id}/todos"
LIST_TODOS = f"GET {COLLECTION}"
TODO_STATS = f"GET {COLLECTION}/stats"
DELETE_TODOS = f"DELETE {COLLECTION}"
# The operations schemathesis.toml allows a 422 for valid data (ST202 checks the others).
UNSTATABLE = (LIST_TODOS, TODO_STATS, DELETE_TODOS)
FILTERS = ("is_completed", "q", "priority", "tag", "due_before", "due_after", "overdue")

# The document the app serves at /openapi.json (a contract test holds them equal), loaded
# at import so that pytest can list one test per operation.
schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis_config())


def _given(query: dict[str, Any] | None, name: str) -> bool:
    value = (query or {}).get(name)
    return value not in (None, "", [])


def _unstatable_fields(case: Case) -> set[str]:
    """The fields whose rules the schema cannot state (see schemathesis.toml) and that
    apply to this request: a 422 for valid data may name these and nothing else."""
    label = case.operation.label
    if label == LIST_TODOS:
        both = _given(case.query, "sort") and _given(case.query, "order")
        return {"query.cursor", *(["query.order"] if both else [])}
    if label == TODO_STATS:
        return {"query.tz"}
    if label == DELETE_TODOS and not any(_given(case.query, name) for name in FILTERS):
        return {"query"}
    return set()


@schemathesis.check
def only_unstatable_rules_refuse(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Valid data may be refused only by a rule the schema cannot state, and only for its
    field (see schemathesis.toml): a cursor this service did not issue for this listing,
    `sort` with `order`, a `tz` that is no IANA zone, a bulk delete without a filter."""
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
    operations, with the same user, so the stateful run reaches them with data to act on.

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
    bulk = paths[f"{COLLECTION}/bulk"]["post"]["responses"]["201"]
    bulk["links"] = {
        **links,
        "GetFirstTodo": {
            "operationId": paths[f"{COLLECTION}/{{todo_id}}"]["get"]["operationId"],
            "parameters": {**same_user, "todo_id": "$response.body#/items/0/id"},
        },
    }
    return document


stateful_schema = schemathesis.openapi.from_dict(
    _with_collection_links(openapi_document()), config=schemathesis_config()
)


@schema.parametrize()
def test_every_operation_conforms_to_the_document(case: Case, conformance_app: AuditedApp) -> None:
    case.call_and_validate(app=conformance_app, additional_checks=EXTRA_CHECKS)


def test_linked_operations_conform_in_any_order(conformance_app: AuditedApp) -> None:
    base = stateful_schema.as_state_machine()

    # The state machine class is made at run time, which type checkers cannot follow.
    class Links(base):  # type: ignore[valid-type, misc]
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
