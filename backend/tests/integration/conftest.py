"""Integration tests talk to the app and a real PostgreSQL; each starts with no todos."""

import pytest


@pytest.fixture(autouse=True)
def _start_empty(clean_database: None) -> None:
    """Every integration test begins with an empty todos table."""
