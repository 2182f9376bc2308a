"""Stats: counts over what the same filters would list, with "today" in the caller's zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import assert_validation_error, create_todo, todos_url
from todo_api.services.todo_stats import today_in


def _stats_url(user_id: str) -> str:
    return f"{todos_url(user_id)}/stats"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_stats_of_a_user_without_todos_are_zeros(client: httpx.AsyncClient) -> None:
    stats = (await client.get(_stats_url("alice"))).json()

    assert stats == {
        "total": 0,
        "completed": 0,
        "open": 0,
        "overdue": 0,
        "due_today": 0,
        "by_priority": {"none": 0, "low": 0, "medium": 0, "high": 0},
        "by_tag": [],
        "by_list": [],
    }


async def test_stats_count_completion_priority_overdue_and_tags(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    await create_todo(
        client, "alice", title="late", due_at=_iso(now - timedelta(days=2)), tags=["Work"]
    )
    await create_todo(
        client,
        "alice",
        title="late but done",
        due_at=_iso(now - timedelta(days=2)),
        is_completed=True,
        tags=["work", "home"],
    )
    await create_todo(
        client,
        "alice",
        title="later",
        due_at=_iso(now + timedelta(days=30)),
        priority="high",
        tags=["WORK"],
    )
    await create_todo(client, "alice", title="someday", priority="low", tags=["home"])
    await create_todo(client, "bob", title="not alice's", tags=["work"], priority="high")

    stats = (await client.get(_stats_url("alice"))).json()

    assert (stats["total"], stats["completed"], stats["open"], stats["overdue"]) == (4, 1, 3, 1)
    assert stats["by_priority"] == {"none": 2, "low": 1, "medium": 0, "high": 1}
    assert stats["by_tag"] == [
        {"tag": "WORK", "open": 2, "total": 3},  # one tag in any case, spelled as sorts first
        {"tag": "home", "open": 1, "total": 2},
    ]


async def test_stats_take_the_listing_filters(client: httpx.AsyncClient) -> None:
    await create_todo(client, "alice", title="a", priority="high", tags=["x"])
    await create_todo(client, "alice", title="b", priority="high", is_completed=True)
    await create_todo(client, "alice", title="c", priority="low", tags=["x"])

    high = (await client.get(_stats_url("alice"), params={"priority": "high"})).json()
    tagged = (await client.get(_stats_url("alice"), params={"tag": "X"})).json()

    assert (high["total"], high["completed"]) == (2, 1)
    assert high["by_priority"] == {"none": 0, "low": 0, "medium": 0, "high": 2}
    assert tagged["total"] == 2
    listed = (await client.get(todos_url("alice"), params={"tag": "X"})).json()
    assert listed["count"] == tagged["total"]


async def test_due_today_is_the_calendar_day_of_the_given_zone(client: httpx.AsyncClient) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: its today is rarely UTC's
    start, end = today_in(zone)
    await create_todo(client, "alice", title="first minute", due_at=_iso(start))
    await create_todo(client, "alice", title="last minute", due_at=_iso(end - timedelta(minutes=1)))
    await create_todo(client, "alice", title="tomorrow", due_at=_iso(end))
    await create_todo(client, "alice", title="done", due_at=_iso(start), is_completed=True)

    stats = (await client.get(_stats_url("alice"), params={"tz": zone})).json()

    assert stats["due_today"] == 2


def test_today_spans_23_hours_on_the_day_clocks_go_forward() -> None:
    noon = datetime(2026, 3, 29, 12, tzinfo=ZoneInfo("Europe/Paris"))

    start, end = today_in("Europe/Paris", now=noon)

    assert end - start == timedelta(hours=23)
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "utc", "x" * 65, ""])
async def test_an_unknown_time_zone_is_a_422_naming_tz(
    client: httpx.AsyncClient, zone: str
) -> None:
    response = await client.get(_stats_url("alice"), params={"tz": zone})

    body = assert_validation_error(response, "query.tz")
    assert (
        "IANA time zone" in body["field_errors"][0]["message"]
        or "at most 64" in body["field_errors"][0]["message"]
    )


async def test_by_tag_lists_at_most_50_tags_most_used_first(client: httpx.AsyncClient) -> None:
    bulk = [
        {"title": f"t{i}", "tags": [f"tag{j:02}" for j in range(i, min(i + 20, 60))]}
        for i in range(0, 60, 3)
    ]
    response = await client.post(f"{todos_url('alice')}/bulk", json={"todos": bulk})
    assert response.status_code == 201, response.text

    by_tag = (await client.get(_stats_url("alice"))).json()["by_tag"]

    assert len(by_tag) == 50
    totals = [entry["total"] for entry in by_tag]
    assert totals == sorted(totals, reverse=True)
