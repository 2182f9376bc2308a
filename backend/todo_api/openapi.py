"""`python -m todo_api.openapi` prints the OpenAPI document that `specs/openapi.json` holds.

The contract tests compare the running app's document with that file, so a change to the
API shows up in review as a change to the snapshot (`make openapi` rewrites it).
"""

import json
from typing import Any

from todo_api.main import create_app
from todo_api.settings import Settings


def openapi_document() -> dict[str, Any]:
    """The document as served at /openapi.json; building it needs no database."""
    return create_app(Settings(database_url=None)).openapi()


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys and a trailing newline, so diffs show only real changes."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(openapi_document()), end="")  # noqa: T201
