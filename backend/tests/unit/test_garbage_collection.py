"""The server's garbage collector settings, applied when the app starts serving."""

import gc

from pydantic import SecretStr

from todo_api.garbage_collection import YOUNG_GENERATION_THRESHOLD
from todo_api.main import create_app
from todo_api.settings import Settings

# Nothing listens here; the pool connects lazily, so starting the app needs no database.
UNREACHABLE = "postgresql://todo@127.0.0.1:9/todo"


async def test_a_started_app_keeps_its_startup_objects_out_of_collections() -> None:
    app = create_app(Settings(_env_file=None, database_url=SecretStr(UNREACHABLE)))

    async with app.router.lifespan_context(app):
        # FastAPI, pydantic and SQLAlchemy alone leave tens of thousands of objects.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
