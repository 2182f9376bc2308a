"""The files wrk reads for the scenarios of conditional requests, Idempotency-Keys, the
change feed and JWT auth: each made just before its runs, from the server's own answers,
so that what they hold is current when wrk sends it.

- ETags: GET one's `ETag` for sampled todos (`user_id todo_id etag`), sent back as
  `If-None-Match` (304 while nothing writes those todos, which nothing does meanwhile);
- replayed keys: a create sent once with each of a few keys (`user_id key`), so that
  every request of the run is a replay;
- feed tokens: each user's `next` once a pass of the feed is over (`user_id token`), so
  that every poll of the run finds nothing new;
- JWTs: an HS256 token for each sampled todo's user (`user_id todo_id token`).
"""

import time
from pathlib import Path

import jwt

from bench.sanity import Client, SanityFailed, feed_token
from bench.seed import SeedFiles

_BASE = "/api/v1/users/"
ETAG_SAMPLE = 2000
REPLAY_KEYS = 100
FEED_USERS = 200
# Long enough for any bench run; the verified-token cache keeps a token until it expires.
_JWT_LIFETIME = 6 * 3600


def replay_body(key: str) -> dict[str, str]:
    """The create sent with a replayed key (create_replay.lua sends the same)."""
    return {"title": f"Replayed {key}"}


def _pairs(files: SeedFiles, count: int | None = None) -> list[list[str]]:
    pairs = [line.split() for line in files.todos.read_text().splitlines() if line]
    return pairs[:count] if count else pairs


def etags(url: str, files: SeedFiles, path: Path) -> Path:
    """`user_id todo_id etag` for ETAG_SAMPLE sampled todos, as `url` answers now."""
    client = Client("server", url)
    lines = []
    try:
        for user_id, todo_id in _pairs(files, ETAG_SAMPLE):
            todo = f"{_BASE}{user_id}/todos/{todo_id}"
            status, body, headers = client.send("GET", todo)
            if status != 200 or "etag" not in headers:
                raise SanityFailed(f"GET {todo} answered {status} without an ETag: {body[:200]!r}")
            lines.append(f"{user_id} {todo_id} {headers['etag']}")
    finally:
        client.close()
    path.write_text("\n".join(lines) + "\n")
    return path


def replay_keys(url: str, name: str, files: SeedFiles, path: Path) -> Path:
    """REPLAY_KEYS keys of `name`'s own, each used once for a create of a user of its own,
    and checked to replay: `user_id key` lines."""
    users = files.users.read_text().split()[:REPLAY_KEYS]
    stamp = time.time_ns()
    client = Client(name, url)
    lines = []
    try:
        for number, user_id in enumerate(users):
            key = f"replay-{name}-{stamp}-{number}"
            create = f"{_BASE}{user_id}/todos"
            for replayed in (False, True):
                status, body, headers = client.send(
                    "POST", create, replay_body(key), {"Idempotency-Key": key}
                )
                marked = headers.get("idempotent-replayed") == "true"
                if status != 201 or marked != replayed:
                    raise SanityFailed(
                        f"{name}: keyed create (replay: {replayed}) answered {status}, "
                        f"Idempotent-Replayed: {headers.get('idempotent-replayed')}: "
                        f"{body[:200]!r}"
                    )
            lines.append(f"{user_id} {key}")
    finally:
        client.close()
    path.write_text("\n".join(lines) + "\n")
    return path


def feed_tokens(url: str, files: SeedFiles, path: Path) -> Path:
    """`user_id token` for FEED_USERS users: the token after a whole pass of each one's
    feed, with which a poll finds nothing new."""
    users = files.users.read_text().split()[-FEED_USERS:]
    client = Client("API", url)
    try:
        lines = [f"{user_id} {feed_token(client, user_id)}" for user_id in users]
    finally:
        client.close()
    path.write_text("\n".join(lines) + "\n")
    return path


def jwt_tokens(secret: str, files: SeedFiles, path: Path) -> Path:
    """`user_id todo_id token` for every sampled todo: an HS256 token of its user (one
    per user, so the API's verified-token cache holds each after its first request)."""
    expires = int(time.time()) + _JWT_LIFETIME
    tokens: dict[str, str] = {}
    lines = []
    for user_id, todo_id in _pairs(files):
        token = tokens.get(user_id)
        if token is None:
            token = jwt.encode({"sub": user_id, "exp": expires}, secret, algorithm="HS256")
            tokens[user_id] = token
        lines.append(f"{user_id} {todo_id} {token}")
    path.write_text("\n".join(lines) + "\n")
    return path


def check_jwt(url: str, tokens: Path) -> None:
    """The API with JWT auth answers 200 with a line's token and 401 without one, so the
    run measures verified requests."""
    user_id, todo_id, token = tokens.read_text().split("\n", 1)[0].split()
    todo = f"{_BASE}{user_id}/todos/{todo_id}"
    client = Client("API with JWT auth", url)
    try:
        with_token, body, _headers = client.send(
            "GET", todo, headers={"Authorization": f"Bearer {token}"}
        )
        without, _body, _headers = client.send("GET", todo)
    finally:
        client.close()
    if (with_token, without) != (200, 401):
        raise SanityFailed(
            f"the API with AUTH_JWT_SECRET answered GET {todo} {with_token} with a token "
            f"and {without} without one, not 200 and 401: {body[:200]!r}"
        )
