"""Finding page 1,000 the way a client does: following `next_cursor` from page 1.

Building the cursor by hand would test the bench's idea of the format; walking it tests
the API's. The walk runs once, on one keep-alive connection, before page 1,000 is measured.
"""

import http.client
from urllib.parse import urlsplit

import orjson


class PagingFailed(RuntimeError):
    """The API's pages ended early or answered with an error."""


def walk_to_page(base_url: str, first: str, page: int, limit: int) -> str:
    """The path of page `page`, starting from the path of page 1 (which sets `limit`)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    path = first
    try:
        for number in range(1, page + 1):
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
            except OSError as error:  # refused, reset, timed out
                raise PagingFailed(f"page {number}: {error!r}") from None
            if response.status != 200:
                raise PagingFailed(f"page {number} answered {response.status}: {body[:300]!r}")
            content = orjson.loads(body)
            if len(content["items"]) != limit:
                raise PagingFailed(f"page {number} has {len(content['items'])} items, not {limit}")
            if number == page:
                return path
            cursor = content["next_cursor"]
            if cursor is None:
                raise PagingFailed(f"page {number} is the last; {page} pages were expected")
            path = f"{first}&cursor={cursor}"
    finally:
        connection.close()
    raise PagingFailed(f"page must be at least 1, not {page}")
