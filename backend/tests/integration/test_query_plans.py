"""Page 1,000 costs what page 1 does: every sort reads one range of an index.

One user has 100,000 todos (another has 10,000 more, so the user predicate matters), with
priorities, due dates (some missing) and update times spread at random, vacuumed and
analyzed. For every sort, the statement the service sends for pages 1, 500 and 1,000 of
100 (page 1,000, the last, holds the rows at offsets 99,900 to 99,999 of that sort's
order) runs under `EXPLAIN (ANALYZE, FORMAT JSON)` with the parameters `list_todos` would
send for the cursor the page before returned. It is explained as a prepared statement
twice: planned with the parameters' values (the first runs of a prepared statement) and
as the generic plan PostgreSQL may keep for it afterwards (the app's connections cache
their prepared statements).

The page part of the plan must read the todos through the sort's index, starting at the
cursor: no sequential or bitmap scan, no sort of more than a page, only about a page of
rows read from the index and none thrown away by a filter. The total that comes with each
page counts all the user's todos, which takes reading them; it must be one read of the
user's rows (an index-only scan of the user's range, or a scan of the table that keeps
only the user's rows) and nothing more.
"""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from tests.conftest import DatabaseFactory, url_string
from todo_api.db.database import Query
from todo_api.db.url import parse_database_url
from todo_api.models.todos import Sort
from todo_api.services.cursor import Cursor, decode_cursor
from todo_api.services.todo_filters import TodoFilters
from todo_api.services.todo_listing import _list_query, listing_binding

USER = "planner"
ROWS = 100_000
OTHER_ROWS = 10_000
PAGE = 100
PAGES = (1, 500, 1000)  # page 1,000, the last, holds the rows at offsets 99,900 to 99,999

# Random but repeatable: setseed() fixes random() for the rest of the session.
_SEED = """
INSERT INTO todos (user_id, title, is_completed, priority, due_at, created_at, updated_at)
SELECT user_id, 'todo ' || i, random() < 0.3, floor(random() * 4)::smallint,
       CASE WHEN random() < 0.2 THEN NULL
            ELSE timestamptz '2026-01-01' + random() * interval '365 days' END,
       created_at, created_at + random() * interval '30 days'
FROM (
    SELECT $1::text AS user_id, i,
           timestamptz '2025-01-01' + random() * interval '365 days' AS created_at
    FROM generate_series(1, $2::int) AS i
) AS seeded
"""

# Each sort's order, written out independently of the service's SQL.
_ORDER = {
    Sort.CREATED_AT_DESC: "created_at DESC, id DESC",
    Sort.CREATED_AT: "created_at ASC, id ASC",
    Sort.UPDATED_AT_DESC: "updated_at DESC, created_at DESC, id DESC",
    Sort.UPDATED_AT: "updated_at ASC, created_at DESC, id DESC",
    Sort.DUE_AT_DESC: "coalesce(due_at, '-infinity') DESC, created_at DESC, id DESC",
    Sort.DUE_AT: "coalesce(due_at, 'infinity') ASC, created_at DESC, id DESC",
    Sort.PRIORITY_DESC: "priority DESC, created_at DESC, id DESC",
    Sort.PRIORITY: "priority ASC, created_at DESC, id DESC",
    Sort.POSITION: "position ASC",
}
POSITION_INDEX = "uq_todos_user_id_list_id_position"


def _filters_of(sort: Sort) -> TodoFilters:
    """No filter, but for `position`, which orders one list: the todos in no list (all
    of them here)."""
    return TodoFilters(list_id="none") if sort is Sort.POSITION else TodoFilters()


def _indexes_of(sort: Sort) -> set[str]:
    """The indexes in the order of `sort`'s key. A range of equal keys (the first of the
    two ranges an ascending sort reads after a cursor) is in the sort's order in either
    direction's index of that key, so the planner may take either for it."""
    if sort.key == "created_at":  # read forwards for the newest first, backwards for the oldest
        return {"ix_todos_user_id_created_at_id"}
    if sort.key == "position":
        return {POSITION_INDEX}
    return {f"ix_todos_user_id_{sort.key}_desc", f"ix_todos_user_id_{sort.key}_asc"}


def _index_of(sort: Sort) -> str:
    if sort.key == "created_at":
        return "ix_todos_user_id_created_at_id"
    if sort.key == "position":
        return POSITION_INDEX
    return f"ix_todos_user_id_{sort.key}_{'desc' if sort.descending else 'asc'}"


@pytest.fixture(scope="module")
async def seeded(databases: DatabaseFactory) -> AsyncIterator[asyncpg.Connection]:
    """A database of its own (its statistics are this module's alone), seeded and analyzed
    the way autovacuum would leave it."""
    url = await databases.create(migrated=True)
    connection = await asyncpg.connect(**parse_database_url(url_string(url)).connect_kwargs)
    try:
        await connection.execute("SELECT setseed(0.42)")
        await connection.execute(_SEED, USER, ROWS)
        await connection.execute(_SEED, "someone-else", OTHER_ROWS)
        await connection.execute("VACUUM (ANALYZE) todos")
        yield connection
    finally:
        await connection.close()


async def _page_values(
    connection: asyncpg.Connection, sort: Sort, number: int
) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """The parameters `list_todos` sends for page `number` (after the first: from the
    cursor the page before returned, encoded and decoded as a client sends it back), and
    the ids the statement must return: the page's, and the first of the next page if any
    (asked for to know whether one follows)."""
    start = (number - 1) * PAGE
    before = 1 if number > 1 else 0
    rows = await connection.fetch(
        f"SELECT id, created_at, {sort.key} AS key FROM todos WHERE user_id = $1"
        f" ORDER BY {_ORDER[sort]} OFFSET $2 LIMIT $3",
        USER,
        start - before,
        before + PAGE + 1,
    )
    expected = [row["id"] for row in rows[before:]]
    if number == 1:
        return {"user_id": USER, "limit": PAGE + 1}, expected
    last_of_previous = rows[0]
    binding = listing_binding(USER, sort, _filters_of(sort))
    token = Cursor(
        sort=sort,
        key=last_of_previous["key"],
        created_at=last_of_previous["created_at"],
        id=last_of_previous["id"],
    ).encode(binding)
    position = decode_cursor(token, sort=sort, binding=binding)
    values: dict[str, Any] = {"user_id": USER, "limit": PAGE + 1}
    if sort.key != "position":  # positions have no ties to break
        values |= {"after_created_at": position.created_at, "after_id": position.id}
    if sort.key != "created_at":
        values["after_key"] = position.key
    return values, expected


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _rows(node: dict[str, Any]) -> float:
    """Rows a node returned over all its loops."""
    return float(node["Actual Rows"]) * float(node["Actual Loops"])


def _removed(node: dict[str, Any]) -> float:
    """Rows a node read and threw away (a filter's, over all its loops)."""
    return float(node.get("Rows Removed by Filter", 0)) * float(node["Actual Loops"])


def _scans_of_todos(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in _nodes(node) if n.get("Relation Name") == "todos"]


def _describe(node: dict[str, Any], depth: int = 0) -> str:
    """The plan as EXPLAIN's text would show its outline, for failure messages."""
    line = "  " * depth + node["Node Type"]
    if "Index Name" in node:
        line += f" using {node['Index Name']}"
    if "Relation Name" in node:
        line += f" on {node['Relation Name']}"
    line += f" (rows={_rows(node):g}"
    for extra in ("Index Cond", "Filter", "Rows Removed by Filter", "Sort Key"):
        if extra in node:
            line += f", {extra}: {node[extra]}"
    line += ")"
    return "\n".join([line, *(_describe(child, depth + 1) for child in node.get("Plans", []))])


def _literal(value: object) -> str:
    """A parameter as an SQL literal, for EXECUTE (the values here are ids, times and
    numbers made by this module)."""
    if value is None:
        return "NULL"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def _explain(
    connection: asyncpg.Connection, query: Query, arguments: list[Any], plan_cache_mode: str
) -> dict[str, Any]:
    """EXPLAIN ANALYZE of `query` as a prepared statement: the app's connections keep their
    statements prepared, and after five runs PostgreSQL may keep a generic plan (one made
    without the parameters' values) instead of planning each run with them."""
    types = [f"{t.schema}.{t.name}" for t in (await connection.prepare(query.sql)).get_parameters()]
    given = ", ".join(f"{_literal(a)}::{t}" for a, t in zip(arguments, types, strict=True))
    async with connection.transaction():
        await connection.execute(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
        await connection.execute(f"PREPARE listing ({', '.join(types)}) AS {query.sql}")
        try:
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE listing ({given})"
            )
        finally:
            await connection.execute("DEALLOCATE listing")
    plan: dict[str, Any] = json.loads(explained)[0]["Plan"]
    return plan


@pytest.mark.parametrize(
    "plan_cache_mode",
    ["force_custom_plan", "force_generic_plan"],
    ids=["custom plan", "generic plan"],
)
@pytest.mark.parametrize("number", PAGES, ids=[f"page {number}" for number in PAGES])
@pytest.mark.parametrize("sort", list(Sort), ids=[sort.value for sort in Sort])
async def test_every_page_is_a_range_of_the_sorts_index(
    seeded: asyncpg.Connection, sort: Sort, number: int, plan_cache_mode: str
) -> None:
    query = _list_query(sort, _filters_of(sort).shape, after=number > 1)
    values, expected_ids = await _page_values(seeded, sort, number)
    arguments = query.arguments(values)

    # The statement returns the page (and the first of the next) and the total: the plan
    # below is of a statement that pages correctly, not of one that merely looks fast.
    rows = await seeded.fetch(query.sql, *arguments)
    assert [row["id"] for row in rows] == expected_ids
    assert {row["total"] for row in rows} == {ROWS}

    plan = await _explain(seeded, query, arguments, plan_cache_mode)
    outline = _describe(plan)

    # The page: the subtree under the LIMIT. Every read of the table is a range of an
    # index in the sort's order (bounded by the cursor), and together they read about a
    # page: 101 rows, plus at most one more from each range when there are two.
    page = next(node for node in _nodes(plan) if node["Node Type"] == "Limit")
    page_scans = _scans_of_todos(page)
    assert page_scans, outline
    for scan in page_scans:
        assert scan["Node Type"] in {"Index Scan", "Index Only Scan"}, outline
        assert scan["Index Name"] in _indexes_of(sort), outline
        assert "Index Cond" in scan, outline
    # The range after the cursor's key, the one that may be large, is read from the
    # sort's own index.
    assert _index_of(sort) in {scan["Index Name"] for scan in page_scans}, outline
    assert sum(_rows(scan) for scan in page_scans) <= 2 * (PAGE + 1), outline
    assert sum(_removed(scan) for scan in page_scans) == 0, outline

    # No sort of more than a page anywhere (the outer ORDER BY sorts the page itself).
    for node in _nodes(plan):
        if node["Node Type"] in {"Sort", "Incremental Sort"}:
            assert sum(_rows(child) for child in node["Plans"]) <= 2 * (PAGE + 1), outline

    # The total: one read of the user's rows and of no other user's.
    count = next(node for node in _nodes(plan) if node["Node Type"] == "Aggregate")
    (count_scan,) = _scans_of_todos(count)
    # A parallel scan reports rows per process, averaged: its total may be off by a hair.
    assert round(_rows(count_scan)) == ROWS, outline
    assert round(_removed(count_scan)) <= OTHER_ROWS, outline
    # The two parts are all of it: nothing else reads the table.
    assert len(_scans_of_todos(plan)) == len(page_scans) + 1, outline
