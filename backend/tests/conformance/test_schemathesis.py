"""A client nobody here wrote: schemathesis, driven by the app's own OpenAPI document.

Every operation gets generated valid and invalid requests (explicit examples, schemathesis's
coverage scenarios and random fuzzing) and every built-in check runs on each response: no
5xx, the response matches its documented schema, status code, content type and headers,
invalid data is rejected, valid data is accepted, and more. The stateful test follows the
document's links (create, then get, replace, patch, complete, delete; delete, then each of
them again) through random sequences, with the same checks plus use-after-free and
resource availability.

Bounded and deterministic in `make test`; `make fuzz` runs many more examples.
"""

from typing import Any

import hypothesis
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import CheckFunction

from tests.conformance.conftest import FUZZ, AuditedApp, schemathesis_config
from todo_api.openapi import openapi_document

LIST_TODOS = "GET /api/v1/users/{user_id}/todos"

# The document the app serves at /openapi.json (a contract test holds them equal), loaded
# at import so that pytest can list one test per operation.
schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis_config())


@schemathesis.check
def only_the_cursor_is_refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Valid data for the list may be refused only for its cursor (see schemathesis.toml):
    a cursor this service did not issue, or issued for the other order."""
    del ctx
    if (
        case.meta is None
        or not case.meta.generation.mode.is_positive
        or case.operation.label != LIST_TODOS
        or response.status_code != 422
    ):
        return None
    fields = {error["field"] for error in response.json()["field_errors"]}
    assert fields == {"query.cursor"}, f"valid data refused for {sorted(fields)}"
    return None


EXTRA_CHECKS: list[CheckFunction] = [only_the_cursor_is_refused]


@schema.parametrize()
def test_every_operation_conforms_to_the_document(case: Case, conformance_app: AuditedApp) -> None:
    case.call_and_validate(app=conformance_app, additional_checks=EXTRA_CHECKS)


def test_linked_operations_conform_in_any_order(conformance_app: AuditedApp) -> None:
    base = schema.as_state_machine()

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
