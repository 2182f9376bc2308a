"""The OpenAPI document is the published contract: the app must serve exactly the snapshot
in specs/openapi.json. A deliberate API change updates both (`make openapi`)."""

import json
from pathlib import Path

import httpx

from todo_api.main import create_app
from todo_api.openapi import openapi_document, render
from todo_api.settings import Settings

SNAPSHOT = Path(__file__).parents[3] / "specs" / "openapi.json"


def test_the_generated_document_equals_the_snapshot() -> None:
    assert render(openapi_document()) == SNAPSHOT.read_text(), (
        "The API changed: review the difference, then run `make openapi`."
    )


async def test_the_served_document_equals_the_snapshot() -> None:
    app = create_app(Settings(_env_file=None, database_url=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        served = (await client.get("/openapi.json")).json()

    assert served == json.loads(SNAPSHOT.read_text())


def test_every_operation_documents_its_errors() -> None:
    document = json.loads(SNAPSHOT.read_text())
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"404", "422", "503"} <= documented, (method, path, documented)
            if method in {"post", "put", "patch"} and "requestBody" in operation:
                assert {"413", "415"} <= documented, (method, path, documented)


def test_the_patch_schema_makes_nothing_required_and_only_description_nullable() -> None:
    schema = json.loads(SNAPSHOT.read_text())["components"]["schemas"]["TodoPatch"]

    assert "required" not in schema
    assert schema["properties"]["title"]["type"] == "string"
    assert schema["properties"]["is_completed"]["type"] == "boolean"
    assert {"type": "null"} in schema["properties"]["description"]["anyOf"]
