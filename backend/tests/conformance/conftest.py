"""Fixtures for the conformance suite: the app as generic clients drive it.

Example counts are bounded and the runs deterministic, so `make test` stays fast and
repeatable. `make fuzz` sets FUZZ_EXAMPLES to run many more examples from a random seed
(FUZZ_SEED replays schemathesis's examples of one).
"""

import os
import random
import tomllib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import StatementLog, make_settings
from tests.statements import observing, recording_database
from todo_api.main import create_app
from todo_api.settings import Settings

SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


class FuzzBudget:
    """How much generated input a run tries: the bounded default, or FUZZ_EXAMPLES."""

    def __init__(self) -> None:
        examples = os.environ.get("FUZZ_EXAMPLES", "").strip()
        self.fuzzing = bool(examples)
        # Schemathesis: examples per operation and generation mode.
        self.examples = int(examples) if examples else 25
        # The isolation state machine: runs, and steps in each run.
        self.scenarios = max(self.examples // 2, 20) if self.fuzzing else 20
        self.steps = 60 if self.fuzzing else 25
        seed = os.environ.get("FUZZ_SEED", "").strip()
        self.seed = int(seed) if seed else random.SystemRandom().randrange(2**32)

    @property
    def deterministic(self) -> bool:
        """`make test` runs the same examples every time; `make fuzz` explores."""
        return not self.fuzzing


FUZZ = FuzzBudget()


def pytest_report_header() -> list[str]:
    if FUZZ.fuzzing:
        return [f"fuzzing: {FUZZ.examples} examples per operation, FUZZ_SEED={FUZZ.seed}"]
    return ["conformance: bounded deterministic examples (FUZZ_EXAMPLES=N for more)"]


def schemathesis_config() -> schemathesis.Config:
    """`schemathesis.toml`, with the example count and seed of this run."""
    data: dict[str, Any] = tomllib.loads(SCHEMATHESIS_CONFIG.read_text())
    generation = data.setdefault("generation", {})
    generation["max-examples"] = FUZZ.examples
    generation["deterministic"] = FUZZ.deterministic
    data["seed"] = FUZZ.seed
    # Requests go to the app in-process; the host is the test client's.
    data["base-url"] = "http://testserver"
    return schemathesis.Config.from_dict(data)


class AuditedApp:
    """The app, its database swapped for a recording one as soon as its lifespan has
    started, so every statement schemathesis causes is checked for its user_id predicate."""

    def __init__(self, settings: Settings, audit: StatementLog) -> None:
        self.app = create_app(settings)
        self.settings = settings
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner: ASGIApp = self.app
        if scope["type"] != "lifespan":
            await inner(scope, receive, send)
            return
        async with AsyncExitStack() as recording:

            async def send_and_audit(message: Message) -> None:
                if message["type"] == "lifespan.startup.complete":
                    await recording.enter_async_context(recording_database(self.app, self.settings))
                    await recording.enter_async_context(observing(self.audit.record))
                elif message["type"] == "lifespan.shutdown.complete":
                    await recording.aclose()
                await send(message)

            await inner(scope, receive, send_and_audit)


@pytest.fixture(scope="session")
def conformance_app(app_database_url: str, sql_audit: StatementLog) -> Iterator[AuditedApp]:
    """The app for schemathesis, on the suite's test database (by the same route as the
    suite's `app`).

    Schemathesis calls ASGI apps from an event loop of its own, so it gets an app of its own
    whose lifespan it runs there: the suite's `app` fixture lives on pytest's event loop,
    and its connections cannot be used from another."""
    yield AuditedApp(make_settings(app_database_url), sql_audit)
    shutdown_lifespans()
