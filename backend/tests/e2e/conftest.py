"""Fixtures for the browser tests (`make test-e2e`, not part of `make test`): the real
server on its embedded PostgreSQL, and Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here, so it launches the system's Chromium
(`/usr/bin/chromium`, or the path in CHROMIUM). `.ci/run` installs it when it is missing.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.processes import command_env, todo_api_server

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
API_KEY = "e2e-tester-key-0123456789"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Api:
    base_url: str
    api_key: str


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`todo-api run` as a tester would start it, with an API key, on a fresh embedded
    PostgreSQL in a temporary directory."""
    workdir = tmp_path_factory.mktemp("server")
    env = command_env(EMBEDDED_DATA_DIR=str(workdir / "postgres"), API_KEY=API_KEY)
    with todo_api_server("run", env, workdir) as (base_url, _log):
        yield Api(base_url, API_KEY)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium), "
        "or set CHROMIUM to a Chromium binary"
    )
    # Each launch gets a fresh temporary profile (user data dir) from Playwright.
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
