"""Todo API: a user-scoped CRUD service on FastAPI, SQLModel, asyncpg and PostgreSQL."""

from importlib.metadata import version

__version__ = version("todo-api")
