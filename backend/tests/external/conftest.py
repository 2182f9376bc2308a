"""The external suites: a real PgBouncer and a real SSL-only PostgreSQL, both from Debian's
packages, set up on 127.0.0.1 by `.ci/setup-postgres-services.sh` (run as root; it
installs them when missing), which writes the URLs below to services.env.
`make test-external` loads that file, runs these suites, and runs the integration suite
again through PgBouncer and over SSL; `.ci/run` does both.

Without those services, `make test` reports each module here as skipped, with the reason.
Under `make test-external` (TEST_EXTERNAL_REQUIRED=1) a missing service is a failure.
The test harness creates its databases on the same server (TEST_DATABASE_URL).
"""

import os
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import URL, make_url

from tests.conftest import url_string

VARIABLES = (
    "TEST_PGBOUNCER_URL",
    "TEST_DATABASE_URL",
    "TEST_PGBOUNCER_POOL_SIZE",
    "TEST_PG_SSL_REQUIRE_URL",
    "TEST_PG_SSL_VERIFY_FULL_URL",
    "TEST_PG_CA_FILE",
    "TEST_PG_CLUSTER",
)


@dataclass(frozen=True)
class Services:
    """Where the external components are. Every URL names the `postgres` database; `on`
    points one at a database the suite created."""

    pgbouncer_url: URL  # TLS (channel_binding=require, the test CA), transaction pooling
    pgbouncer_pool_size: int  # PgBouncer's default_pool_size: its server connections
    ssl_require_url: URL  # the SSL-only server, sslmode=require, through 127.0.0.1
    ssl_verify_full_url: URL  # the same, verify-full against the test CA, via localhost
    ca_file: str  # the test CA, the only issuer of both servers' certificate
    cluster: tuple[str, str]  # PostgreSQL version and cluster name, for pg_ctlcluster

    @staticmethod
    def on(route: URL, database: str | None, **query: str) -> str:
        """DATABASE_URL for `database` by `route`; `query` replaces its parameters."""
        url = route.set(database=database)
        if query:
            url = url.set(query=query)
        return url_string(url)


def require_services() -> None:
    """Called by each module as it is collected: skips the module (one line in the report)
    when the services are not configured, or fails it under `make test-external`."""
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if not missing:
        return
    reason = (
        "the PgBouncer and SSL suites, and the integration suite through them, need "
        f"{missing[0]} and {len(missing) - 1} more variables: run "
        ".ci/setup-postgres-services.sh as root, then make test-external (.ci/run does)"
    )
    if os.environ.get("TEST_EXTERNAL_REQUIRED") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session")
def services() -> Services:
    version, cluster = os.environ["TEST_PG_CLUSTER"].split()
    return Services(
        pgbouncer_url=make_url(os.environ["TEST_PGBOUNCER_URL"]),
        pgbouncer_pool_size=int(os.environ["TEST_PGBOUNCER_POOL_SIZE"]),
        ssl_require_url=make_url(os.environ["TEST_PG_SSL_REQUIRE_URL"]),
        ssl_verify_full_url=make_url(os.environ["TEST_PG_SSL_VERIFY_FULL_URL"]),
        ca_file=os.environ["TEST_PG_CA_FILE"],
        cluster=(version, cluster),
    )
