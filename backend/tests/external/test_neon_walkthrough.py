"""Tried as a new user would: the pair of connection strings Neon's console gives (pooled
and direct, `?sslmode=require&channel_binding=require`), pasted verbatim as DATABASE_URL
and DATABASE_URL_UNPOOLED, pointed at a local PgBouncer (transaction pooling, TLS for
clients) in front of a local SSL-only PostgreSQL, with pooled mode forced by DB_POOLED
(a local host name has no `-pooler` in it). Then the walkthrough of
specs/deploying-on-neon.md, over HTTP.

The strings carry no sslrootcert, exactly as Neon's: the test CA reaches the process as
its trust store (SSL_CERT_FILE, which OpenSSL reads as the system store), as a public CA
does for Neon."""

import asyncio
from pathlib import Path

import httpx
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory
from tests.external.conftest import Services, require_services
from tests.processes import ApiProcess, command_env

require_services()

NEON_PARAMETERS = "?sslmode=require&channel_binding=require"


def _neon_style(route: URL, database: str | None) -> str:
    """A Neon console string: user, password, host, database, and the two parameters."""
    plain = route.set(drivername="postgresql", database=database, query={})
    return plain.render_as_string(hide_password=False) + NEON_PARAMETERS


async def test_neon_style_strings_work_verbatim_through_pgbouncer_with_pooled_mode_forced(
    services: Services, databases: DatabaseFactory, tmp_path: Path
) -> None:
    database = (await databases.create(migrated=False)).database
    password = services.pgbouncer_url.password
    assert password
    pooled = _neon_style(services.pgbouncer_url, database)
    direct = _neon_style(services.ssl_verify_full_url, database)
    env = command_env(
        DATABASE_URL=pooled,
        DATABASE_URL_UNPOOLED=direct,
        DB_POOLED="true",
        SSL_CERT_FILE=services.ca_file,
    )

    with ApiProcess("run", env, tmp_path) as api:  # `make run`: migrate, then serve
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url) as client:
            base = "/api/v1/users/alice/todos"
            created = await client.post(base, json={"title": "Buy milk", "description": "2 litres"})
            assert created.status_code == 201
            todo = created.json()
            assert created.headers["location"].endswith(f"{base}/{todo['id']}")
            second = await client.post(base, json={"title": "Walk the dog", "is_completed": True})
            assert second.status_code == 201

            page = (await client.get(f"{base}?limit=1")).json()
            assert page["count"] == 2
            assert [item["title"] for item in page["items"]] == ["Walk the dog"]
            rest = (await client.get(f"{base}?limit=1&cursor={page['next_cursor']}")).json()
            assert [item["title"] for item in rest["items"]] == ["Buy milk"]
            assert rest["next_cursor"] is None
            found = (await client.get(f"{base}?is_completed=false&q=MILK&order=asc")).json()
            assert found["count"] == 1

            url = f"{base}/{todo['id']}"
            assert (await client.get(url)).json() == todo
            replaced = await client.put(
                url, json={"title": "Buy oat milk", "description": None, "is_completed": False}
            )
            assert replaced.json()["title"] == "Buy oat milk"
            patched = await client.patch(url, json={"description": "1 litre"})
            assert patched.json()["description"] == "1 litre"
            assert (await client.patch(f"{url}/complete")).json()["is_completed"] is True
            assert (await client.delete(url)).status_code == 204
            assert (await client.get(url)).status_code == 404

            assert (await client.get("/health")).json() == {"status": "ok"}
            assert (await client.get("/health/ready")).json() == {"status": "ready"}
        assert api.stop() in {0, 143}

    output = api.output
    # Migrated over the direct string, served through the pooler.
    assert f"Migrating postgresql+asyncpg://{services.pgbouncer_url.username}:***@localhost:" in (
        output
    )
    assert f":{services.ssl_verify_full_url.port}/{database}" in output
    assert "pooled mode" in output
    # How channel_binding=require is met is said once, at start-up.
    assert output.count("asyncpg cannot do SCRAM channel binding") == 1
    assert password not in output
