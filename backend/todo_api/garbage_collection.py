"""Garbage collection tuned for a long-running server.

By the time the app serves, the process holds about 110,000 objects that the cyclic
garbage collector tracks (FastAPI, pydantic, SQLAlchemy's metadata, Alembic's script
directory), none of which will ever be garbage. With CPython's defaults a full collection
walks all of them every second or two under load, stopping every request in flight for
60-90 ms on the development machine and freeing nothing; that was most of the API's p99.
Young collections every 700 net allocations added about 4% of the CPU on top.

So, once the app is built and connected: every object alive is moved out of the
collector's sight (`gc.freeze`), and a young collection waits for 10,000 net allocations.
Objects of requests are freed by reference counting as before; the collector still finds
cycles, just less often, which costs at most the memory of those 10,000 containers.
specs/decisions/0009-performance.md has the measurements.
"""

import functools
import gc

YOUNG_GENERATION_THRESHOLD = 10_000


@functools.cache
def tune_for_serving() -> None:
    """Freeze what exists now and raise the young threshold, once per process: later calls
    (another app started in the same test process) change nothing."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
