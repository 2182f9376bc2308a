"""Version 1 of the public API, mounted under `/api/v1`."""

from fastapi import APIRouter

from todo_api.api.v1 import todos

router = APIRouter(prefix="/api/v1")
router.include_router(todos.router)
