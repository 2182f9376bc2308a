"""The documents a first-time user follows, executed: the curl examples in README.md and
specs/tour.md are run against a live `todo-api serve` on a fresh database, and what each
prints is compared with what the document shows; the README's configuration table is
compared with `Settings`. A change in behaviour that makes them wrong fails here.

The convention the documents follow is described at the end of specs/tour.md: a ```sh
block that runs curl is a step, the next fenced block (```json, ```http or ```text) is its
output. `TOUR_UPDATE=1` writes the server's actual output into those blocks instead of
comparing (review the diff).
"""

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DatabaseFactory, url_string
from tests.contract.documents import (
    Normaliser,
    Step,
    compare,
    configuration_table,
    document_steps,
    documented_default,
    write_outputs,
)
from tests.helpers import truncate_every_table
from tests.processes import command_env, todo_api_server
from todo_api.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
TOUR = ROOT / "specs" / "tour.md"
# Where the documents say the server is (`make run`); replaced by the test server's URL.
DOCUMENTED_ORIGIN = "http://127.0.0.1:8000"
# curl gives up first (--max-time below), so a hung step reports curl's own error.
STEP_SECONDS = 30
CURL_SECONDS = 20
UPDATE = os.environ.get("TOUR_UPDATE") == "1"


@pytest.fixture(scope="module")
async def tour_database(databases: DatabaseFactory) -> URL:
    """A database of the tour's own, so no other test's todos show in its counts."""
    return await databases.create(migrated=True)


@pytest.fixture(scope="module")
def tour_server(tour_database: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`todo-api serve` on the tour's database, as an operator runs it; its base URL."""
    cwd = tmp_path_factory.mktemp("tour")
    env = command_env(DATABASE_URL=url_string(tour_database))
    with todo_api_server("serve", env, cwd) as (base_url, _log):
        yield base_url


@pytest.fixture
async def empty_server(tour_server: str, tour_database: URL) -> str:
    """The server, with no todos in its database: each document starts from nothing."""
    engine = create_async_engine(tour_database, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(truncate_every_table()))
    finally:
        await engine.dispose()
    return tour_server


class Shell:
    """Runs steps one `bash` at a time, carrying the shell variables they set forward, as
    a reader pasting them into one terminal would."""

    def __init__(self, base_url: str, state_file: Path) -> None:
        self.base_url = base_url
        self.state_file = state_file
        self.variables: dict[str, str] = {}
        self.env = command_env(
            # `python3` as the documents use it, even where no other one is installed.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            TOUR_STATE=str(state_file),
        )
        self.env.pop("BASH_ENV", None)

    def script(self, step: Step) -> str:
        """The step's commands against the test server, after the variables so far, then
        a dump of every variable the steps set."""
        commands = step.command.text.replace(DOCUMENTED_ORIGIN, self.base_url)
        assert ":8000" not in commands, (
            f"{step.where}: a URL the test cannot redirect; use {DOCUMENTED_ORIGIN}"
        )
        names = [*self.variables, *(n for n in step.assigned if n not in self.variables)]
        restore = "".join(
            f"{name}={shlex.quote(value)}\n" for name, value in self.variables.items()
        )
        dump = " ".join(f'"{name}" "${{{name}-}}"' for name in names)
        save = f"printf '%s\\0' {dump} > \"$TOUR_STATE\"\n" if names else ""
        return (
            # -q first: no ~/.curlrc of the developer's changes what curl prints.
            f'curl() {{ command curl -q --max-time {CURL_SECONDS} "$@"; }}\n'
            f"{restore}{commands}\n"
            "tour_status=$?\n"
            f"{save}"
            'exit "$tour_status"\n'
        )

    def run(self, step: Step) -> subprocess.CompletedProcess[str]:
        self.state_file.write_text("")
        script = self.script(step)
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=STEP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{step.where}: no answer in {STEP_SECONDS} s\n{stdout}\n{stderr}")
        fields = self.state_file.read_text().split("\0")[:-1]
        self.variables.update(zip(fields[::2], fields[1::2], strict=True))
        return subprocess.CompletedProcess(script, process.returncode, stdout, stderr)


def run_document(document: Path, base_url: str, workdir: Path) -> None:
    """Every step of `document` in order; fails listing each step whose output differs
    from the document's (with TOUR_UPDATE=1, writes those steps' actual outputs instead)."""
    steps = document_steps(document, str(document.relative_to(ROOT)))
    shell = Shell(base_url, workdir / "variables")
    expected_side, actual_side = Normaliser(), Normaliser()
    failures: list[str] = []
    changed: dict[Step, str] = {}
    for step in steps:
        result = shell.run(step)
        difference = compare(step, result.stdout, expected_side, actual_side)
        if difference is not None:
            # Written back with the document's ids and times, so the rest still agrees.
            changed[step] = actual_side.in_terms_of(expected_side, result.stdout)
            failures.append(
                f"{step.where}: {step.summary}\n{difference}\n"
                f"exit status {result.returncode}, stderr: {result.stderr.strip() or '(none)'}"
            )
    if UPDATE:
        write_outputs(document, changed)
        return
    assert not failures, (
        f"{document.relative_to(ROOT)} no longer matches the server ({len(failures)} of "
        f"{len(steps)} steps). Fix the code or the document; after a deliberate change, "
        "TOUR_UPDATE=1 rewrites the outputs.\n\n" + "\n\n".join(failures)
    )


@pytest.mark.parametrize("document", [README, TOUR], ids=["readme", "tour"])
def test_every_curl_example_has_its_output_and_uses_the_documented_server(
    document: Path,
) -> None:
    steps = document_steps(document, str(document.relative_to(ROOT)))

    assert steps, f"{document} has no curl examples"
    assert DOCUMENTED_ORIGIN in steps[0].command.text


def test_the_readme_examples_print_what_the_readme_shows(empty_server: str, tmp_path: Path) -> None:
    run_document(README, empty_server, tmp_path)


def test_the_tour_prints_what_the_tour_shows(empty_server: str, tmp_path: Path) -> None:
    run_document(TOUR, empty_server, tmp_path)


def test_the_readme_configuration_table_is_every_setting_with_its_default() -> None:
    documented = configuration_table(README.read_text())
    fields = Settings.model_fields

    assert sorted(documented) == sorted(name.upper() for name in fields)
    for name, field in fields.items():
        default = field.get_default(call_default_factory=True)
        assert documented_default(documented[name.upper()], default), (name, default)
