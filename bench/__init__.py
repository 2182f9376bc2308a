"""`make bench`: load-tests the running Todo API with wrk against a minimal reference app.

The numbers only mean something relative to a baseline measured on the same machine, in
the same run, on the same data, which is why a hand-written Starlette + asyncpg app runs
alongside the API (see `bench/reference/`). Nothing here is imported by the package or
the test suite: timings never become test assertions.

The bench starts `todo-api` with the test suite's own helpers (`tests.processes`), so that
both run it the same way. `tests` lives in backend/, which is put first on the import
path here, as pytest's `pythonpath = ["backend"]` does for the suite: an editable install
happens to make it importable too, but nothing else would.
"""

import sys
from pathlib import Path

_BACKEND_DIR = str(Path(__file__).resolve().parent.parent / "backend")
if sys.path[:1] != [_BACKEND_DIR]:
    sys.path.insert(0, _BACKEND_DIR)
