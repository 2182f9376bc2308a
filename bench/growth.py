"""The growth phase's data: a database of its own, filled by `COPY` in steps, so the same
requests can be measured with 100,000, 1,000,000 and 10,000,000 todos in the table.

The table holds `size` todos of ordinary users (GROWTH_TODOS_PER_USER each, so 100 users
at 100,000 and 10,000 at 10,000,000) plus BIG_USER with BIG_USER_TODOS, seeded once at the
start and never changed, so its page 1,000 is the same position at every size and only
the rest of the table grows around it. Each step COPYs only the rows the next size adds
(asyncpg's binary `copy_records_to_table`, the rows generated here, through the real
table with its indexes, constraints and column defaults: `position` and the list foreign
key as for any other insert), then runs `VACUUM (ANALYZE)`, as a table in service would
have been. Rows arrive interleaved across users, as they would over time; their fields
vary as bench/seed.py's do (priority 40% none, 25% low, 20% medium, 15% high; `due_at`
on half; each of 8 tags with a chance of 1 in 8; every fourth completed; three lists per
user holding 60, 20 and 10 in 100 of their todos). A seeded random generator makes every
run the same data, and a reservoir keeps ID_SAMPLE uniformly drawn (user, todo) pairs of
the whole table at each size for GET one.

The database is `todo_bench_growth` on the embedded server, dropped before and after: at
10,000,000 todos it takes several GB, which the rest of the bench must not carry.
"""

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.config import BIG_USER, BIG_USER_LISTS, BIG_USER_TODOS, ID_SAMPLE, USER_LISTS
from bench.database import BenchDatabase, asyncpg_dsn

GROWTH_DATABASE = "todo_bench_growth"
GROWTH_USER_PREFIX = "bench-grow-"
GROWTH_TODOS_PER_USER = 1000
_TAGS = ("work", "home", "errands", "urgent", "health", "finance", "reading", "travel")
_TODO_COLUMNS = (
    "user_id",
    "id",
    "title",
    "description",
    "is_completed",
    "priority",
    "due_at",
    "tags",
    "completed_at",
    "created_at",
    "updated_at",
    "list_id",
)
_YEAR = 365 * 86400


@contextmanager
def growth_database(db: BenchDatabase) -> Iterator[BenchDatabase]:
    """A fresh database next to the bench's own, dropped again on the way out."""
    url = make_url(db.api_url).set(database=GROWTH_DATABASE)
    api_url = url.render_as_string(hide_password=False)
    grown = BenchDatabase(api_url=api_url, dsn=asyncpg_dsn(api_url), embedded=db.embedded)
    asyncio.run(_recreate(db.dsn, create=True))
    try:
        yield grown
    finally:
        asyncio.run(_recreate(db.dsn, create=False))


async def _recreate(dsn: str, *, create: bool) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {GROWTH_DATABASE} WITH (FORCE)")
        if create:
            await connection.execute(f"CREATE DATABASE {GROWTH_DATABASE}")
    finally:
        await connection.close()


@dataclass(frozen=True, slots=True)
class SeedStep:
    """One step's COPY: the ordinary users' todos it added and how long each part took."""

    size: int
    rows: int
    copy_seconds: float
    vacuum_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.copy_seconds if self.copy_seconds else 0.0

    def to_json(self) -> dict[str, float]:
        return {
            "size": self.size,
            "rows": self.rows,
            "copy_seconds": self.copy_seconds,
            "vacuum_seconds": self.vacuum_seconds,
            "rows_per_second": self.rows_per_second,
        }


@dataclass(slots=True)
class GrowthSeeder:
    """The table's state between steps: how many ordinary users and todos it holds, and the
    reservoir of sampled (user, todo) pairs."""

    dsn: str
    rng: random.Random = field(default_factory=lambda: random.Random(20261202))  # noqa: S311
    users: int = 0
    todos: int = 0
    sample: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _todo(
        self, user_id: str, n: int, created: datetime, list_id: uuid.UUID | None
    ) -> tuple[object, ...]:
        """One row, its planning fields drawn as bench/seed.py's `_PLANNING` spreads them."""
        rng = self.rng
        draw = rng.random()
        priority = 0 if draw < 0.40 else 1 if draw < 0.65 else 2 if draw < 0.85 else 3
        due = created + timedelta(seconds=rng.randrange(-2 * 86400, 12 * 86400))
        tags = [tag for tag in _TAGS if rng.random() < 0.125]
        completed = n % 4 == 0
        updated = min(self.now, created + timedelta(seconds=rng.randrange(3600)))
        updated = updated if completed else created
        return (
            user_id,
            self._uuid(),
            f"Todo {n} of {user_id}",
            None if n % 3 == 0 else f"Details for todo {n}: {rng.getrandbits(64):016x}",
            completed,
            priority,
            due if rng.random() < 0.5 else None,
            tags,
            updated if completed else None,
            created,
            updated,
            list_id,
        )

    async def start(self) -> None:
        """BIG_USER with its projects and BIG_USER_TODOS todos, `created_at` a second apart."""
        projects = [self._uuid() for _ in range(BIG_USER_LISTS)]
        rows = (
            self._todo(
                BIG_USER,
                n,
                self.now - timedelta(seconds=n),
                projects[n % (BIG_USER_LISTS + 1) - 1] if n % (BIG_USER_LISTS + 1) else None,
            )
            for n in range(1, BIG_USER_TODOS + 1)
        )
        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.copy_records_to_table(
                "lists",
                records=[(BIG_USER, pid, f"Project {k + 1}") for k, pid in enumerate(projects)],
                columns=["user_id", "id", "name"],
            )
            await connection.copy_records_to_table("todos", records=rows, columns=_TODO_COLUMNS)
        finally:
            await connection.close()

    def _users_rows(
        self, first: int, count: int, lists: dict[str, list[uuid.UUID]]
    ) -> Iterator[tuple[object, ...]]:
        """Todo t of every new user in turn, then t + 1, ...: interleaved, as over time."""
        users = [f"{GROWTH_USER_PREFIX}{u:05d}" for u in range(first, first + count)]
        for n in range(1, GROWTH_TODOS_PER_USER + 1):
            share = n % 10  # 0-5 in the first list, 6-7 the second, 8 the third, 9 none
            slot = 0 if share < 6 else 1 if share < 8 else 2 if share == 8 else None
            for user_id in users:
                created = self.now - timedelta(seconds=self.rng.randrange(_YEAR))
                list_id = None if slot is None else lists[user_id][slot]
                row = self._todo(user_id, n, created, list_id)
                todo_id = row[1]
                assert isinstance(todo_id, uuid.UUID)  # noqa: S101  (the id is drawn as a UUID)
                self._keep(user_id, todo_id)
                yield row

    def _keep(self, user_id: str, todo_id: uuid.UUID) -> None:
        """Reservoir sampling over every ordinary todo so far (algorithm R)."""
        self.todos += 1
        if len(self.sample) < ID_SAMPLE:
            self.sample.append((user_id, todo_id))
            return
        slot = self.rng.randrange(self.todos)
        if slot < ID_SAMPLE:
            self.sample[slot] = (user_id, todo_id)

    def write_sample(self, path: Path) -> None:
        """The sampled (user, todo) pairs, as bench/out/todos.txt, for GET one."""
        path.write_text("".join(f"{user} {todo}\n" for user, todo in self.sample))

    async def grow_to(self, size: int) -> SeedStep:
        """COPY the ordinary users' todos up to `size`, then VACUUM (ANALYZE)."""
        users = size // GROWTH_TODOS_PER_USER - self.users
        first = self.users
        lists = {
            f"{GROWTH_USER_PREFIX}{u:05d}": [self._uuid() for _ in USER_LISTS]
            for u in range(first, first + max(users, 0))
        }
        connection = await asyncpg.connect(self.dsn)
        try:
            started = time.monotonic()
            if users > 0:
                await connection.copy_records_to_table(
                    "lists",
                    records=[
                        (user_id, list_id, name)
                        for user_id, ids in lists.items()
                        for list_id, name in zip(ids, USER_LISTS, strict=True)
                    ],
                    columns=["user_id", "id", "name"],
                )
                await connection.copy_records_to_table(
                    "todos",
                    records=self._users_rows(first, users, lists),
                    columns=_TODO_COLUMNS,
                )
            copied = time.monotonic()
            await connection.execute("VACUUM (ANALYZE) lists")
            await connection.execute("VACUUM (ANALYZE) todos")
            vacuumed = time.monotonic()
        finally:
            await connection.close()
        self.users += max(users, 0)
        return SeedStep(
            size=size,
            rows=max(users, 0) * GROWTH_TODOS_PER_USER,
            copy_seconds=copied - started,
            vacuum_seconds=vacuumed - copied,
        )


def seed_estimate(steps: list[SeedStep], size: int) -> float | None:
    """Seconds to COPY and vacuum a table of `size` ordinary todos from empty, at the rate
    of the largest step measured (index maintenance only slows as the table grows, so this
    is a lower bound); None before any step with rows."""
    measured = [step for step in steps if step.rows]
    if not measured:
        return None
    last = max(measured, key=lambda step: step.rows)
    return size * (last.copy_seconds + last.vacuum_seconds) / last.rows
