"""`make bench`: load-tests the running Todo API with wrk against a minimal reference app.

The numbers only mean something relative to a baseline measured on the same machine, in
the same run, on the same data, which is why a hand-written Starlette + asyncpg app runs
alongside the API (see `bench/reference/`). Nothing here is imported by the package or
the test suite: timings never become test assertions.
"""
