"""What the HTTP layer accepts, beyond what the models say about each field."""

# The largest request body: a todo is at most a few kilobytes, so anything near this is a
# mistake or an attack. Enforced before any of the body is read (`api/middleware.py`).
MAX_BODY_BYTES = 64 * 1024
