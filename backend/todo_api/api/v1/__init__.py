"""Version 1 of the public API, mounted under `/api/v1`.

Each module's router carries its full `/api/v1/...` prefix, and its routes join the app's
own through `todo_api.api.routing.register_routes`: nested routers cost matching time on
every request."""

from todo_api.api.v1 import changes, lists, todos

routers = [todos.router, lists.router, changes.router]
