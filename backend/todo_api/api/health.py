"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from todo_api.api.errors import ErrorBody
from todo_api.api.parameters import database
from todo_api.services.health import check_ready

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    """The probe passed."""

    status: str = Field(examples=["ok", "ready"])


@router.get("", summary="Liveness", operation_id="checkLiveness")
async def live() -> HealthStatus:
    """200 while the process runs; never touches the database, so a database outage does
    not get healthy API processes restarted."""
    return HealthStatus(status="ok")


@router.get(
    "/ready",
    summary="Readiness",
    operation_id="checkReadiness",
    responses={503: {"model": ErrorBody, "description": "Database down or not migrated."}},
)
async def ready(request: Request) -> HealthStatus:
    """200 when the database answers and its schema is at the current migration."""
    await check_ready(database(request), request.app.state.head_revision)
    return HealthStatus(status="ready")
