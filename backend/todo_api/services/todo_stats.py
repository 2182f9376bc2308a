"""Counts for a dashboard, over the todos a listing with the same filters would show.

One statement: the matching rows are read once (a CTE, which PostgreSQL materializes
because it is used twice), counted with FILTER clauses, and their tags grouped in a
subquery. "Due today" is the calendar day in the caller's time zone, whose bounds are
computed here with the IANA database, so PostgreSQL's own time zone files (which may be
older or missing a zone) are never asked.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import bindparam, func, literal_column, select

from todo_api.db.database import Database, Query
from todo_api.models import TAG_STATS_MAX, Priority
from todo_api.services.todo_columns import COLUMNS, RANKS
from todo_api.services.todo_filters import TodoFilters, conditions


@dataclass(frozen=True, slots=True)
class TodoCounts:
    """The numbers of `TodoStats`."""

    total: int
    completed: int
    open: int
    overdue: int
    due_today: int
    by_priority: dict[str, int]
    by_tag: list[dict[str, Any]]


@cache
def _stats_query(shape: tuple[str, ...]) -> Query:
    matched = (
        select(COLUMNS.is_completed, COLUMNS.due_at, COLUMNS.priority, COLUMNS.tags)
        .where(COLUMNS.user_id == bindparam("user_id"), *conditions(shape))
        .cte("matched")
    )
    is_open = ~matched.c.is_completed
    tag = func.unnest(matched.c.tags).table_valued("tag").render_derived(name="t")
    per_tag = (
        select(
            func.min(tag.c.tag).label("tag"),
            func.count().filter(is_open).label("open"),
            func.count().label("total"),
        )
        .select_from(matched.join(tag, literal_column("true")))
        .group_by(func.lower(tag.c.tag))
        .order_by(literal_column("total").desc(), func.lower(tag.c.tag))
        .limit(literal_column(str(TAG_STATS_MAX)))
        .subquery("per_tag")
    )
    by_tag = select(
        func.coalesce(
            func.json_agg(
                func.json_build_object(
                    *(
                        part
                        for name in ("tag", "open", "total")
                        for part in (literal_column(f"'{name}'"), per_tag.c[name])
                    )
                )
            ),
            literal_column("'[]'::json"),
        )
    ).scalar_subquery()
    statement = select(
        func.count().label("total"),
        func.count().filter(matched.c.is_completed).label("completed"),
        func.count().filter(is_open & (matched.c.due_at < func.now())).label("overdue"),
        func.count()
        .filter(
            is_open
            & (matched.c.due_at >= bindparam("day_start"))
            & (matched.c.due_at < bindparam("day_end"))
        )
        .label("due_today"),
        *(
            func.count()
            .filter(matched.c.priority == literal_column(str(RANKS[priority])))
            .label(priority.value)
            for priority in Priority
        ),
        by_tag.label("by_tag"),
    ).select_from(matched)
    return Query.compile(statement)


def today_in(zone: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of today and of tomorrow in `zone`, in UTC: a day may be 23 or 25 hours."""
    tz = ZoneInfo(zone)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    start = datetime.combine(today, time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def todo_stats(
    database: Database, user_id: str, *, filters: TodoFilters, zone: str
) -> TodoCounts:
    """The counts over the user's todos matching `filters`; "today" is in `zone`."""
    day_start, day_end = today_in(zone)
    row = await database.fetch_one(
        _stats_query(filters.shape),
        user_id=user_id,
        day_start=day_start,
        day_end=day_end,
        **filters.values(),
    )
    assert row is not None  # noqa: S101  (an aggregate always returns its row)
    return TodoCounts(
        total=row["total"],
        completed=row["completed"],
        open=row["total"] - row["completed"],
        overdue=row["overdue"],
        due_today=row["due_today"],
        by_priority={priority.value: row[priority.value] for priority in Priority},
        by_tag=orjson.loads(row["by_tag"]),
    )
