"""Listing a user's todos a page at a time, in any of the sorts, with the total.

Every sort is a range scan of one index (see `models.Sort`), so page 1,000 costs what
page 1 does. The page after a cursor is "every todo after the cursor's in the sort's
order". In a descending sort that is one row comparison over the index's columns. In an
ascending one, whose ties still go newest first (`priority` ascending, then the newest
`created_at`), it is two ranges of the index: the rest of the cursor's key, and every
larger key. Each range is read in order and cut at the page size by itself, so each is a
short index scan whatever the planner thinks of the rest (under one shared LIMIT,
PostgreSQL sorted half the user's rows instead), and the page is the first rows of the
two, sorted: at most twice a page. One statement fetches the page (one row more than
asked, to know whether another follows) joined to the total, so an empty page still
reports the count. `tests/integration/test_query_plans.py` holds the plans to this.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, true, tuple_, union_all
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from todo_api.db.database import Database, Query
from todo_api.errors import InvalidInput
from todo_api.models.todos import Priority, Sort, sort_key
from todo_api.services.cursor import Cursor, SortKey, decode_cursor
from todo_api.services.todo_columns import COLUMNS, PUBLIC, RANKS, TODOS
from todo_api.services.todo_filters import TodoFilters, conditions
from todo_api.services.todos import TodoRecord

POSITION_NEEDS_A_LIST = (
    "sort=position is the order of one list: send list_id=<the list's id>, or "
    "list_id=none for the todos in no list."
)


@dataclass(frozen=True, slots=True)
class TodoRecordPage:
    """One page of a listing; `count` counts every match, on all pages."""

    items: list[TodoRecord]
    count: int
    next_cursor: str | None


def _direction(column: ColumnElement[Any], descending: bool) -> ColumnElement[Any]:
    return column.desc() if descending else column.asc()


def _order(
    sort: Sort, columns: ReadOnlyColumnCollection[str, Any], *, keyed: bool = False
) -> list[ColumnElement[Any]]:
    """ORDER BY for `sort` over `columns`: a subquery's, with its `sort_key`, or the
    table's (`keyed`), where the key is the expression its index is on."""
    if sort.key == "created_at":  # today's orders: (created_at, id), both one way
        return [
            _direction(columns.created_at, sort.descending),
            _direction(columns.id, sort.descending),
        ]
    if sort.key == "position":  # one list's positions, which are unique
        if not keyed:
            return [columns.sort_key.asc()]
        # The list first, though it is one: PostgreSQL takes `list_id IS NULL` as a bound
        # of the index, but not as making the index's next column its order.
        return [columns.list_id.asc(), columns.position.asc()]
    key = sort_key(sort, columns[sort.key]) if keyed else columns.sort_key
    return [
        _direction(key, sort.descending),
        columns.created_at.desc(),
        columns.id.desc(),
    ]


def _after_cursor(sort: Sort) -> list[list[ColumnElement[bool]]]:
    """The todos after the cursor: one list of conditions per range to read."""
    tie = tuple_(COLUMNS.created_at, COLUMNS.id)
    cursor_tie = tuple_(bindparam("after_created_at"), bindparam("after_id"))
    if sort.key == "created_at":
        return [[tie < cursor_tie if sort.descending else tie > cursor_tie]]
    key = sort_key(sort, COLUMNS[sort.key])
    cursor_key = sort_key(sort, bindparam("after_key", type_=COLUMNS[sort.key].type))
    if sort.key == "position":
        return [[key > cursor_key]]
    if sort.descending:  # every column descending: one row comparison
        return [
            [tuple_(key, COLUMNS.created_at, COLUMNS.id) < tuple_(cursor_key, *cursor_tie.clauses)]
        ]
    return [[key == cursor_key, tie < cursor_tie], [key > cursor_key]]


@cache
def _list_query(sort: Sort, shape: tuple[str, ...], *, after: bool) -> Query:
    """The statement for one sort, one shape of filters, first page or not; each variant
    compiled on first use."""
    filters = [COLUMNS.user_id == bindparam("user_id"), *conditions(shape)]
    selected = (*PUBLIC, sort_key(sort, COLUMNS[sort.key]).label("sort_key"))
    ranges = _after_cursor(sort) if after else [[]]
    # Each range is cut at the page size on its own (see the module's docstring).
    branches = [
        select(*selected)
        .where(*filters, *extra)
        .order_by(*_order(sort, COLUMNS, keyed=True))
        .limit(bindparam("limit"))
        for extra in ranges
    ]
    if len(branches) == 1:
        page = branches[0].subquery("page")
    else:
        candidates = union_all(*(select(branch.subquery()) for branch in branches)).subquery(
            "candidates"
        )
        page = (
            select(candidates)
            .order_by(*_order(sort, candidates.c))
            .limit(bindparam("limit"))
            .subquery("page")
        )
    total = select(func.count().label("total")).select_from(TODOS).where(*filters).subquery()
    statement: Select[Any] = (
        select(total.c.total, page)
        .select_from(total.outerjoin(page, true()))
        .order_by(*_order(sort, page.c))
    )
    return Query.compile(statement)


def listing_binding(user_id: str, sort: Sort, filters: TodoFilters) -> bytes:
    """What a cursor is bound to: this user, this sort, these filters."""
    identity = b"\0".join((user_id.encode(), sort.value.encode(), filters.fingerprint()))
    return hashlib.blake2b(identity, digest_size=8).digest()


def _key_of(record: TodoRecord, sort: Sort) -> SortKey:
    """The sort key of a todo as a cursor holds it (a priority by its place; a position,
    which the API does not show, as the statement selected it)."""
    if sort.key == "position":
        position: int = record["sort_key"]
        return position
    value: SortKey = record[sort.key]
    if sort.key == "priority":
        return RANKS[Priority(record["priority"])]
    return value


async def list_todos(
    database: Database,
    user_id: str,
    *,
    filters: TodoFilters,
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> TodoRecordPage:
    """A page of the user's todos matching `filters`, in the order of `sort`."""
    if sort is Sort.POSITION and not filters.one_list:
        raise InvalidInput("query.sort", POSITION_NEEDS_A_LIST)
    binding = listing_binding(user_id, sort, filters)
    position = decode_cursor(cursor, sort=sort, binding=binding) if cursor is not None else None
    query = _list_query(sort, filters.shape, after=position is not None)
    values: dict[str, Any] = {"user_id": user_id, "limit": limit + 1, **filters.values()}
    if position is not None:
        if sort.key != "created_at":
            values["after_key"] = position.key
        if sort.key != "position":  # positions have no ties to break
            values["after_created_at"] = position.created_at
            values["after_id"] = position.id
    rows = await database.fetch_all(query, **values)
    total = rows[0]["total"]
    items = [row for row in rows if row["id"] is not None]  # no match: one row, the count
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = Cursor(
            sort=sort, key=_key_of(last, sort), created_at=last["created_at"], id=last["id"]
        ).encode(binding)
    return TodoRecordPage(items=items, count=total, next_cursor=next_cursor)
