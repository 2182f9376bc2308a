"""`channel_binding=require` is met by verifying the server's certificate, which
`todo-api serve` and `migrate` check once at start-up (db/startup_checks.py). Only a
certificate that fails verification stops them (backend/tests/external/test_ssl.py has a
real SSL server for that): a database that cannot be reached is an outage, and `serve`
starts through it as it does without channel_binding."""

from pathlib import Path

from tests.local_postgres import quiet_port
from tests.processes import ApiProcess, command_env, todo_api

PASSWORD = "B1nd-s3cret"


def _unreachable() -> str:
    return (
        f"postgresql://todo:{PASSWORD}@localhost:{quiet_port()}/todo"
        "?sslmode=require&channel_binding=require"
    )


def test_serve_starts_while_the_database_is_down(tmp_path: Path) -> None:
    with ApiProcess("serve", command_env(DATABASE_URL=_unreachable()), tmp_path) as api:
        api.wait_until_live()
        assert api.stop() in {0, 143}

    assert "Cannot start" not in api.output
    assert PASSWORD not in api.output


def test_migrate_reports_an_unreachable_database_as_such(tmp_path: Path) -> None:
    result = todo_api("migrate", env=command_env(DATABASE_URL=_unreachable()), cwd=tmp_path)

    assert result.returncode == 1
    assert "Cannot migrate: could not connect to database 'todo' on localhost:" in result.stderr
    assert "Cannot start" not in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr
