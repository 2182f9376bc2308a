"""The layers of specs/decisions/0001-layout.md, checked on what Python actually imports:
services and the database layer know nothing of HTTP.

The check runs in a fresh interpreter, so it sees every module pulled in transitively,
not only the import lines of the modules themselves."""

import json
import subprocess
import sys

WEB_FRAMEWORKS = {"fastapi", "starlette", "uvicorn", "httpx", "httptools"}
_IMPORT_BELOW_THE_HTTP_LAYER = """
import importlib, json, pkgutil, sys
import todo_api.db, todo_api.services, todo_api.errors
for package in (todo_api.db, todo_api.services):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded_by_the_lower_layers() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_BELOW_THE_HTTP_LAYER],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(result.stdout))


def test_services_and_db_import_no_web_framework_and_nothing_of_the_http_layer() -> None:
    loaded = _modules_loaded_by_the_lower_layers()

    assert {name.split(".")[0] for name in loaded} & WEB_FRAMEWORKS == set()
    assert {name for name in loaded if name.startswith("todo_api.api")} == set()
    assert "todo_api.services.todos" in loaded  # the check imported what it checks
