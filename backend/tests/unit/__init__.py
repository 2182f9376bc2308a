"""The unit suite mirrors the package: the tests of `todo_api/X/Y.py` are in
`unit/X/test_Y.py` (those of `todo_api/api/middleware.py` in `unit/api/test_middleware.py`),
so a new test goes to the module named after the code it tests, and a module of the package
without tests has no file here. Only the rules about the package as a whole, such as which
layer may import which (`test_layering.py`), sit at the top beside the shared helpers
(`asgi.py`, `conftest.py`).

The integration, conformance and contract suites are organised by behaviour instead."""
