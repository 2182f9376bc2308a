"""A client's copy of a user's todos and lists, as the change feed tests keep it and
compare it with the server's: shared by the feed's own tests and the replicas' test."""

from typing import Any

import httpx

from tests.helpers import API, todos_url

Key = tuple[str, str]  # (type, id)
State = dict[Key, dict[str, Any]]
# More pages than any test's pass can take: a feed that never ends fails instead of hanging.
MAX_PAGES = 10_000


def changes_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/changes"


def lists_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/lists"


async def server_state(http: httpx.AsyncClient, user_id: str) -> State:
    """The user's todos and lists as the listings return them."""
    state: State = {}
    for kind, url in (("todo", todos_url(user_id)), ("list", lists_url(user_id))):
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = await http.get(url, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            for item in page["items"]:
                state[(kind, item["id"])] = item
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return state


def without_counts(state: State) -> State:
    """The copy without the lists' counts, which the feed sends only when a list's own
    row changes (specs/change-feed.md)."""
    return {
        key: {k: v for k, v in item.items() if k not in {"todo_count", "open_count"}}
        for key, item in state.items()
    }


def counts_from_todos(state: State) -> dict[str, tuple[int, int]]:
    """Each list's (todo_count, open_count) as the copy's todos make them."""
    counts = {key[1]: (0, 0) for key in state if key[0] == "list"}
    for key, todo in state.items():
        if key[0] == "todo" and todo["list_id"] is not None:
            total, open_ = counts[todo["list_id"]]
            counts[todo["list_id"]] = (total + 1, open_ + (not todo["is_completed"]))
    return counts
