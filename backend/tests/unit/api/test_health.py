"""The health endpoints (api/health.py) that answer without a database."""

import httpx


async def test_liveness_is_200_without_a_database(offline_client: httpx.AsyncClient) -> None:
    response = await offline_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
