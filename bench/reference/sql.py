"""The reference's SQL, written by hand to be the statements the API sends.

The API's statements come from SQLAlchemy Core (`todo_api.services.todos`, `todo_listing`,
`todo_stats`, `todo_moves`, `lists`), compiled once. These are the same statements spelled
out, so the reference does not depend on the package: the same columns (a priority read as
its name and written as its place, in the statement itself), the same filters, the same
index order, the same round trips (a move's transaction sends the same statements in the
same order). They are the API's text up to whitespace, and the bench checks that at
start-up (`bench.sanity.check_sql`), so a change to the API's SQL stops the bench until
this file follows it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

# A priority is stored as its place in this array (0 none ... 3 high); PostgreSQL arrays
# count from 1.
_NAMES = "(ARRAY['none', 'low', 'medium', 'high']::text[])"
PRIORITIES = ("none", "low", "medium", "high")
_PRIORITY = f"{_NAMES}[(todos.priority + 1)]"

# Every public field, in the API's response order.
FIELDS = (
    "title",
    "description",
    "is_completed",
    "priority",
    "due_at",
    "tags",
    "list_id",
    "id",
    "user_id",
    "created_at",
    "updated_at",
    "completed_at",
)
# How each field is read: a priority by its name, tags as text[] (which asyncpg decodes
# without asking the server about varchar(40)[] first).
_READ = {"priority": f"{_PRIORITY} AS priority", "tags": "CAST(todos.tags AS TEXT[]) AS tags"}
_PUBLIC = ", ".join(_READ.get(name, f"todos.{name}") for name in FIELDS)

# GET one: by the full key, (user_id, id).
SELECT_ONE = f"""
SELECT {_PUBLIC}
FROM todos
WHERE todos.user_id = $1::VARCHAR AND todos.id = $2::UUID
"""  # noqa: S608

# Create: the database assigns id, timestamps and position (the end of the list, the
# column's default); completed_at follows is_completed; every column comes back; the
# composite foreign key refuses a list that is not the user's. Parameters: title,
# description, is_completed, priority (its name), due_at, tags, list_id, user_id.
INSERT = f"""
INSERT INTO todos (title, description, is_completed, priority, due_at, tags, list_id, user_id,
    completed_at)
VALUES ($1::VARCHAR, $2::VARCHAR, $3::BOOLEAN,
    CAST(array_position({_NAMES}, CAST($4 AS VARCHAR)) - 1 AS SMALLINT),
    $5::TIMESTAMP WITH TIME ZONE, CAST($6 AS TEXT[]), $7::UUID, $8::VARCHAR,
    CASE WHEN $3 THEN now() ELSE NULL END)
RETURNING {_PUBLIC}
"""  # noqa: S608


# Bulk create: the rows travel as one JSON array (each with its place in the request) and
# come back in that order; ids are drawn first so inserted rows can be matched to places.
# Parameters: user_id, the rows as JSON text.
BULK_INSERT = f"""
WITH given AS
(SELECT gen_random_uuid() AS id, rows.ordinal AS ordinal, rows.title AS title,
    rows.description AS description, rows.is_completed AS is_completed,
    rows.priority AS priority, rows.due_at AS due_at, rows.tags AS tags,
    rows.list_id AS list_id
FROM jsonb_to_recordset($2::JSONB) AS rows(ordinal INTEGER, title VARCHAR(255),
    description VARCHAR(2000), is_completed BOOLEAN, priority VARCHAR,
    due_at TIMESTAMP WITH TIME ZONE, tags VARCHAR(40)[], list_id UUID)),
inserted AS
(INSERT INTO todos (user_id, id, title, description, is_completed, priority, due_at, tags,
    list_id, completed_at)
SELECT $1 AS anon_1, given.id AS id, given.title AS title, given.description AS description,
    given.is_completed AS is_completed,
    CAST(array_position({_NAMES}, CAST(given.priority AS VARCHAR)) - 1 AS SMALLINT) AS anon_2,
    given.due_at AS due_at, CAST(given.tags AS TEXT[]) AS tags, given.list_id AS list_id,
    CASE WHEN given.is_completed THEN now() ELSE NULL END AS anon_3
FROM given RETURNING {_PUBLIC})
SELECT {", ".join(f"inserted.{name}" for name in FIELDS)}
FROM inserted JOIN given ON inserted.id = given.id ORDER BY given.ordinal
"""  # noqa: S608

# Stats without filters: three passes over the user's rows, one counting with FILTER
# clauses, one grouping the tags case-insensitively (the 50 most used), one grouping by
# list (the 100 fullest, NULL for the todos in no list).
# Parameters: the start of today and of tomorrow (UTC instants), user_id.
STATS = f"""
SELECT count(*) AS total,
    count(*) FILTER (WHERE todos.is_completed) AS completed,
    count(*) FILTER (WHERE NOT todos.is_completed AND todos.due_at < now()) AS overdue,
    count(*) FILTER (WHERE NOT todos.is_completed
        AND todos.due_at >= $1::TIMESTAMP WITH TIME ZONE
        AND todos.due_at < $2::TIMESTAMP WITH TIME ZONE) AS due_today,
    {
    ", ".join(
        f"count(*) FILTER (WHERE todos.priority = {rank}) AS {name}"
        for rank, name in enumerate(PRIORITIES)
    )
},
    (SELECT coalesce(json_agg(json_build_object('tag', per_tag.tag, 'open', per_tag.open,
        'total', per_tag.total) ORDER BY per_tag.total DESC, per_tag.name), '[]'::json)
        AS coalesce_1
    FROM (SELECT min(t.tag) AS tag, lower(t.tag) AS name,
        count(*) FILTER (WHERE NOT todos.is_completed) AS open, count(*) AS total
        FROM todos JOIN unnest(todos.tags) AS t(tag) ON true
        WHERE todos.user_id = $3::VARCHAR GROUP BY lower(t.tag)
        ORDER BY total DESC, lower(t.tag)
        LIMIT 50) AS per_tag) AS by_tag,
    (SELECT coalesce(json_agg(json_build_object('list_id', per_list.list_id,
        'open', per_list.open, 'total', per_list.total)
        ORDER BY per_list.total DESC, per_list.list_id), '[]'::json) AS coalesce_2
    FROM (SELECT todos.list_id AS list_id,
        count(*) FILTER (WHERE NOT todos.is_completed) AS open, count(*) AS total
        FROM todos
        WHERE todos.user_id = $3::VARCHAR GROUP BY todos.list_id
        ORDER BY total DESC, todos.list_id
        LIMIT 100) AS per_list) AS by_list
FROM todos
WHERE todos.user_id = $3::VARCHAR
"""  # noqa: S608

# The listing's sorts, in the API's order (a cursor stores a sort by its place here).
SORTS = (
    "-created_at",
    "created_at",
    "-updated_at",
    "updated_at",
    "-due_at",
    "due_at",
    "-priority",
    "priority",
    "position",
)
# `position` is the manual order of one list (or of the todos in no list): only with a
# list filter. The others order all of a user's todos too.
LIST_SORT = "position"
USER_SORTS = tuple(sort for sort in SORTS if sort != LIST_SORT)


def _sort_key(sort: str) -> str:
    """What a sort orders by; todos without due_at come last in both directions."""
    key = sort.removeprefix("-")
    if key == "due_at":
        missing = "'-infinity'" if sort.startswith("-") else "'infinity'"
        return f"coalesce(todos.due_at, {missing}::timestamptz)"
    return f"todos.{key}"


def _order(sort: str, source: str) -> str:
    """ORDER BY over the table (`todos`, by the key's expression) or over the page."""
    direction = "DESC" if sort.startswith("-") else "ASC"
    if sort == LIST_SORT:  # positions are unique within a list: no ties to break
        # The list first, though it is one: the index's bound, then its order.
        if source == "todos":
            return "todos.list_id ASC, todos.position ASC"
        return f"{source}.sort_key ASC"
    if sort.removeprefix("-") == "created_at":
        return f"{source}.created_at {direction}, {source}.id {direction}"
    key = _sort_key(sort) if source == "todos" else f"{source}.sort_key"
    return f"{key} {direction}, {source}.created_at DESC, {source}.id DESC"


# A listing's list filter: one list (`list_id=<uuid>`) or the todos in no list (`none`).
ListFilter = Literal["list_id", "no_list"]


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement whose placeholders depend on its variant, and the parameter behind
    each number."""

    sql: str
    parameters: tuple[str, ...]


def list_page(
    sort: str, *, priorities: bool, tags: bool, in_list: ListFilter | None = None
) -> Statement:
    """The first page of a listing in `sort`, filtered by priority and/or tags and/or one
    list (`list_id`) or no list (`no_list`): one row more than the page (to know whether a
    next page exists), left-joined to the count of every match so an empty page still
    carries it. The tag filter compares lower-cased arrays; every condition appears in the
    count and in the page alike."""
    parameters = ["user_id"]
    where = ["todos.user_id = $1::VARCHAR"]
    if priorities:
        parameters.append("priorities")
        where.append(f"todos.priority = any(${len(parameters)})")
    if tags:
        parameters.append("tags")
        where.append(
            "(SELECT array_agg(lower(t.tag)) AS array_agg_1 FROM unnest(todos.tags) AS t(tag))"  # noqa: S608
            " @> (SELECT array_agg(lower(t.tag)) AS array_agg_2"
            f" FROM unnest(${len(parameters)}::TEXT[]) AS t(tag))"
        )
    if in_list == "list_id":
        parameters.append("list_id")
        where.append(f"todos.list_id = ${len(parameters)}::UUID")
    elif in_list == "no_list":
        where.append("todos.list_id IS NULL")
    parameters.append("limit")
    condition = " AND ".join(where)
    selected = ", ".join(_READ.get(name, f"todos.{name} AS {name}") for name in FIELDS)
    page = ", ".join(f"page.{name}" for name in (*FIELDS, "sort_key"))
    sql = f"""
SELECT anon_1.total, {page}
FROM (SELECT count(*) AS total
FROM todos
WHERE {condition}) AS anon_1 LEFT OUTER JOIN (SELECT {selected}, {_sort_key(sort)} AS sort_key
FROM todos
WHERE {condition} ORDER BY {_order(sort, "todos")}
 LIMIT ${len(parameters)}) AS page ON true ORDER BY {_order(sort, "page")}
"""  # noqa: S608
    return Statement(sql=sql, parameters=tuple(parameters))


def list_variants() -> Iterator[tuple[str, bool, bool, ListFilter | None]]:
    """Every first page the reference serves, as (sort, priorities, tags, in_list): each
    sort, by priority or not, by tags or not, in one list, in no list or any list (except
    `position`, the order of one list)."""
    for sort in SORTS:
        for in_list in (None, "list_id", "no_list"):
            if in_list is None and sort == LIST_SORT:
                continue
            for priorities in (False, True):
                for tags in (False, True):
                    yield sort, priorities, tags, in_list


# Which of the given lists are the user's: a move's check of its target list, before the
# transaction. Parameters: user_id, the list ids (uuid[]).
OWNED_LISTS = """
SELECT lists.id
FROM lists
WHERE lists.user_id = $1::VARCHAR AND lists.id = any($2)
"""

# A move (todo_api.services.todo_moves) is one transaction of these, in this order:
# MOVE_LOCK, MOVE_LOCK_TODO, move_neighbours (when a neighbour is named; after a respace
# once more), move_respace (only when the gap has no integer left), move_place.
# The target list's advisory lock, taken first (a statement's snapshot predates any lock
# it waits for). Parameters: user_id, the list's id as text ('' for no list).
MOVE_LOCK = """
SELECT pg_advisory_xact_lock(hashtextextended(concat_ws('/', $1::VARCHAR, $2::VARCHAR), 0))
    AS pg_advisory_xact_lock_1
"""

# The moved todo, locked, every column (what an If-Match is checked on). Parameters:
# user_id, todo_id.
MOVE_LOCK_TODO = f"""
SELECT {_PUBLIC}
FROM todos
WHERE todos.user_id = $1::VARCHAR AND todos.id = $2::UUID FOR UPDATE
"""  # noqa: S608

# A position is a bigint; the respaced list's todos are this far apart.
POSITION_GAP = 2**24


def _in_list(listed: bool, parameters: list[str]) -> str:
    """The target list's todos (the moved one's parameters come first), moved one aside."""
    if listed:
        return (
            "todos.user_id = $1::VARCHAR AND todos.list_id = $2::UUID"
            f" AND todos.id != ${parameters.index('todo_id') + 1}::UUID"
        )
    return (
        "todos.user_id = $1::VARCHAR AND todos.list_id IS NULL"
        f" AND todos.id != ${parameters.index('todo_id') + 1}::UUID"
    )


def move_neighbours(listed: bool) -> Statement:
    """The positions around the place asked for: the `after` todo's and the next one's,
    the `before` todo's and the previous one's (NULL where there is none), the moved todo
    never counted."""
    parameters = ["user_id", *(["list_id"] if listed else []), "todo_id", "after", "before"]
    where = _in_list(listed, parameters)

    def position_of(name: str) -> str:
        return (
            f"(SELECT todos.position FROM todos WHERE {where}"  # noqa: S608
            f" AND todos.id = ${parameters.index(name) + 1}::UUID)"
        )

    after, before = position_of("after"), position_of("before")
    sql = f"""
SELECT {after} AS after,
    (SELECT min(todos.position) AS min_1 FROM todos
    WHERE {where} AND todos.position > {after}) AS following,
    {before} AS before,
    (SELECT max(todos.position) AS max_1 FROM todos
    WHERE {where} AND todos.position < {before}) AS preceding
"""  # noqa: S608
    return Statement(sql=sql, parameters=tuple(parameters))


def move_respace(listed: bool) -> Statement:
    """The list's todos, in order, POSITION_GAP apart, ending where the list ends now."""
    in_list = "todos.list_id = $2::UUID" if listed else "todos.list_id IS NULL"
    sql = f"""
UPDATE todos SET position=members.respaced, change_xid=pg_current_xact_id()
FROM (SELECT todos.id AS id, max(todos.position) OVER ()
    - (count(*) OVER () - row_number() OVER (ORDER BY todos.position)) * {POSITION_GAP}
    AS respaced
    FROM todos
    WHERE todos.user_id = $1::VARCHAR AND {in_list}) AS members
WHERE todos.user_id = $1::VARCHAR AND todos.id = members.id
    AND todos.position != members.respaced
RETURNING todos.id
"""  # noqa: S608
    return Statement(sql=sql, parameters=("user_id", *(["list_id"] if listed else [])))


def move_place(listed: bool, *, at_the_end: bool) -> Statement:
    """The todo in its list at its new position (at the end: the next of the sequence),
    `updated_at` only ever moving forwards; every column comes back."""
    parameters = [*(["list_id"] if listed else []), *([] if at_the_end else ["position"])]
    list_id = "$1::UUID" if listed else "NULL"
    if at_the_end:
        position = f"nextval('todos_position_seq') * {POSITION_GAP}"
    else:
        position = f"${len(parameters)}::BIGINT"
    parameters += ["user_id", "todo_id"]
    sql = f"""
UPDATE todos SET list_id={list_id},
    updated_at=greatest(statement_timestamp(), todos.updated_at + interval '1 microsecond'),
    position={position}, change_xid=pg_current_xact_id()
WHERE todos.user_id = ${len(parameters) - 1}::VARCHAR AND todos.id = ${len(parameters)}::UUID
RETURNING {_PUBLIC}
"""  # noqa: S608
    return Statement(sql=sql, parameters=tuple(parameters))


# ---- PATCH and DELETE of one todo (todo_api.services.todos) -------------------------------
# Without If-Match each is one statement; with it, the API sends MOVE_LOCK_TODO's SELECT ...
# FOR UPDATE first, in a transaction, which the reference does not serve.

# The fields a PATCH the reference serves may set, in the API's order (the bench's PATCH
# sends both). A PATCH that sets none is SELECT_ONE, as in the API.
PATCHED = ("title", "is_completed")
# `updated_at` only ever moving forwards; also a completed todo's `completed_at`.
_NEXT_UPDATED_AT = "greatest(statement_timestamp(), todos.updated_at + interval '1 microsecond')"


def patch_variants() -> Iterator[tuple[str, ...]]:
    """Every non-empty subset of PATCHED, in its order."""
    for mask in range(1, 2 ** len(PATCHED)):
        yield tuple(name for bit, name in enumerate(PATCHED) if mask >> bit & 1)


def patch_update(fields: tuple[str, ...]) -> Statement:
    """A PATCH of `fields` (a non-empty subset of PATCHED, in its order), the columns in
    the table's order: `updated_at` moved forwards, `completed_at` following `is_completed`
    (cleared when reopened, kept when it was already completed, else the new
    `updated_at`), `change_xid` for the change feed (the column's onupdate); every column
    comes back. Parameters: the fields, user_id, todo_id."""
    parameters = (*fields, "user_id", "todo_id")
    number = {name: place for place, name in enumerate(parameters, start=1)}
    assignments = []
    if "title" in fields:
        assignments.append(f"title=${number['title']}::VARCHAR")
    if "is_completed" in fields:
        assignments.append(f"is_completed=${number['is_completed']}::BOOLEAN")
    assignments.append(f"updated_at={_NEXT_UPDATED_AT}")
    if "is_completed" in fields:
        assignments.append(
            f"completed_at=CASE WHEN (NOT ${number['is_completed']}) THEN NULL"
            f" WHEN todos.is_completed THEN todos.completed_at ELSE {_NEXT_UPDATED_AT} END"
        )
    assignments.append("change_xid=pg_current_xact_id()")
    sql = f"""
UPDATE todos SET {", ".join(assignments)}
WHERE todos.user_id = ${number["user_id"]}::VARCHAR AND todos.id = ${number["todo_id"]}::UUID
RETURNING {_PUBLIC}
"""  # noqa: S608
    return Statement(sql=sql, parameters=parameters)


# A DELETE: the todo, and its tombstone for the change feed (one already there for the
# same id is refreshed), in one statement; a row iff the todo existed. Parameters:
# user_id, todo_id.
DELETE_ONE = Statement(
    sql="""
WITH gone AS
(DELETE FROM todos WHERE todos.user_id = $1::VARCHAR AND todos.id = $2::UUID RETURNING todos.id)
INSERT INTO tombstones (user_id, type, id) SELECT $1::VARCHAR AS anon_1, 'todo', gone.id
FROM gone ON CONFLICT (user_id, type, id) DO UPDATE SET deleted_at = now(),
    change_xid = pg_current_xact_id()
RETURNING tombstones.id
""",
    parameters=("user_id", "todo_id"),
)


# ---- Idempotency-Key (todo_api.services.idempotency) -------------------------------------
# A keyed create is one statement, KEYED_INSERT: the claim, the INSERT (only for a key
# that is new and free) and the key stored with the inserted row as JSON, its record.

# How long a key is remembered, in seconds (the API's KEY_LIFETIME).
KEY_LIFETIME_SECONDS = 24 * 3600
# The status of a create's response, stored with its key (the API's CREATED).
CREATED = 201
# What a keyed create's race hits (the API's _KEYS_PRIMARY_KEY): a row of the key.
KEYS_PRIMARY_KEY = "pk_idempotency_keys"
_KEY_OWNED = "idempotency_keys.user_id = $1::VARCHAR AND idempotency_keys.key = $2::VARCHAR"
_KEY_LIVE = f"idempotency_keys.created_at > now() - interval '{KEY_LIFETIME_SECONDS} seconds'"
_KEY_EXPIRED = f"idempotency_keys.created_at <= now() - interval '{KEY_LIFETIME_SECONDS} seconds'"
# What the claim returns: the lock's outcome, and the key's stored response (NULLs if the
# key has none live).
_STORED = ("fingerprint", "status_code", "body", "record", "location")
_CLAIMED = ("lock.claimed", *(f"stored.{name}" for name in _STORED))


def _claim(selected: str) -> str:
    """The key's advisory lock, tried (not waited for), next to the key's stored response
    if one is live: one row always. Parameters: user_id, key."""
    looked_up = ", ".join(f"idempotency_keys.{name} AS {name}" for name in _STORED)
    return f"""
SELECT {selected}
FROM (SELECT pg_try_advisory_xact_lock(hashtextextended(concat_ws('/', 'idempotency',
    $1::VARCHAR, $2::VARCHAR), 0)) AS claimed) AS lock
LEFT OUTER JOIN (SELECT {looked_up}
FROM idempotency_keys
WHERE {_KEY_OWNED} AND {_KEY_LIVE}) AS stored ON true
"""  # noqa: S608


# The claim alone: the first statement of the API's keyed transaction (a bulk create, a
# list's create, a move), which the reference does not send; compared all the same, as
# the claim of KEYED_INSERT is its text.
IDEMPOTENCY_CLAIM = Statement(sql=_claim(", ".join(_CLAIMED)), parameters=("user_id", "key"))

# A keyed create: the claim (a CTE, evaluated once, first), the INSERT only when the key
# is neither stored nor locked (as INSERT's, from the parameters, completed_at following
# is_completed), the key stored with `to_jsonb` of the inserted row as its record; one
# row always, the claim's columns and the inserted todo's (NULLs when nothing was
# inserted). A live key stored meanwhile, or an expired one, fails on the key's primary
# key: IDEMPOTENCY_FORGET_EXPIRED, then the statement again.
KEYED_INSERT = Statement(
    sql=f"""
WITH claim AS
({_claim(", ".join(f"{column} AS {column.split('.')[1]}" for column in _CLAIMED)).strip()}),
inserted AS
(INSERT INTO todos (user_id, title, description, is_completed, priority, due_at, tags,
    list_id, completed_at)
SELECT $1 AS anon_5, $5::VARCHAR AS anon_6, $6::VARCHAR AS anon_7, $7::BOOLEAN AS anon_8,
    CAST(array_position({_NAMES}, CAST($8 AS VARCHAR)) - 1 AS SMALLINT) AS anon_9,
    $9::TIMESTAMP WITH TIME ZONE AS anon_10, CAST($10 AS TEXT[]) AS anon_11,
    $11::UUID AS anon_12, CASE WHEN $7::BOOLEAN THEN now() ELSE NULL END AS anon_13
FROM claim
WHERE claim.claimed AND claim.status_code IS NULL RETURNING {_PUBLIC}),
remembered AS
(INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code, record)
SELECT $1::VARCHAR AS anon_1, $2::VARCHAR AS anon_2, $3 AS anon_3, $4 AS anon_4,
    to_jsonb(inserted) AS to_jsonb_1
FROM inserted)
SELECT {", ".join(f"claim.{column.split('.')[1]}" for column in _CLAIMED)},
    {", ".join(f"inserted.{name}" for name in FIELDS)}
FROM claim LEFT OUTER JOIN inserted ON true
""",  # noqa: S608
    parameters=(
        "user_id",
        "key",
        "fingerprint",
        "status_code",
        "title",
        "description",
        "is_completed",
        "priority",
        "due_at",
        "tags",
        "list_id",
    ),
)

# An expired row of the key, deleted: the key is free again. Parameters: user_id, key.
IDEMPOTENCY_FORGET_EXPIRED = Statement(
    sql=f"DELETE FROM idempotency_keys WHERE {_KEY_OWNED} AND {_KEY_EXPIRED}",  # noqa: S608
    parameters=("user_id", "key"),
)


# ---- The change feed (todo_api.services.changes) ------------------------------------------
# The page of a poll with a token whose pass is over (`since` holds S_old only), as an
# empty poll sends it: the head (the snapshot of this pass, when it was taken, whether the
# token is too old) left-joined to the changed todos, lists (with their counts) and
# tombstones, limit + 1 rows. Parameters: the horizon's time, the retention, the horizon
# snapshot, user_id, S_old, limit.

# TOMBSTONE_RETENTION's default, which the bench's API runs with.
TOMBSTONE_RETENTION_DAYS = 30
_FEED_COLUMNS = {
    "change_xid": None,
    "type": None,
    "id": None,
    "deleted_at": "TIMESTAMP WITH TIME ZONE",
    "title": "VARCHAR(255)",
    "description": "VARCHAR(2000)",
    "is_completed": "BOOLEAN",
    "priority": "VARCHAR",
    "due_at": "TIMESTAMP WITH TIME ZONE",
    "tags": "TEXT[]",
    "list_id": "UUID",
    "user_id": "VARCHAR(128)",
    "created_at": "TIMESTAMP WITH TIME ZONE",
    "updated_at": "TIMESTAMP WITH TIME ZONE",
    "completed_at": "TIMESTAMP WITH TIME ZONE",
    "name": "VARCHAR(100)",
    "todo_count": "BIGINT",
    "open_count": "BIGINT",
}
_LIST_STORED = ("name", "id", "user_id", "created_at", "updated_at")


def _feed_row(values: dict[str, str]) -> str:
    return ", ".join(
        f"{values[name]} AS {name}" if name in values else f"CAST(NULL AS {kind}) AS {name}"
        for name, kind in _FEED_COLUMNS.items()
    )


def _feed_since(table: str) -> str:
    return (
        f"{table}.user_id = $4::VARCHAR"
        f" AND {table}.change_xid >= pg_snapshot_xmin(CAST($5 AS PG_SNAPSHOT))"
        f" AND NOT pg_visible_in_snapshot({table}.change_xid, CAST($5 AS PG_SNAPSHOT))"
    )


def _feed_page() -> str:
    todo_values = {"change_xid": "todos.change_xid", "type": "'todo'", "id": "todos.id"}
    todo_values |= {name: _READ.get(name, f"todos.{name}").rsplit(" AS ", 1)[0] for name in FIELDS}
    list_values = {
        "change_xid": "changed_lists.change_xid",
        "type": "'list'",
        **{name: f"changed_lists.{name}" for name in _LIST_STORED},
        "todo_count": "counts.todo_count",
        "open_count": "counts.open_count",
    }
    tomb_values = {
        name: f"tombstones.{name}" for name in ("change_xid", "type", "id", "deleted_at")
    }
    listed = ", ".join(f"lists.{name} AS {name}" for name in ("change_xid", *_LIST_STORED))
    branches = ", ".join(f"branches.{name} AS {name}" for name in _FEED_COLUMNS)
    page = ", ".join(f"page.{name}" for name in _FEED_COLUMNS)
    return f"""
SELECT head.snapshot, head.taken_at, head.expired, {page}
FROM (SELECT pg_current_snapshot() AS snapshot, statement_timestamp() AS taken_at,
    CAST($1 AS TIMESTAMP WITH TIME ZONE) < statement_timestamp() - CAST($2 AS INTERVAL)
    OR pg_snapshot_xmax(CAST($3 AS PG_SNAPSHOT)) > pg_snapshot_xmax(pg_current_snapshot())
    AS expired) AS head
LEFT OUTER JOIN (SELECT {branches}
FROM ((SELECT {_feed_row(todo_values)}
FROM todos
WHERE {_feed_since("todos")} ORDER BY todos.change_xid, todos.id
 LIMIT $6)
UNION ALL SELECT {_feed_row(list_values)}
FROM (SELECT {listed}
FROM lists
WHERE {_feed_since("lists")} ORDER BY lists.change_xid, lists.id
 LIMIT $6) AS changed_lists JOIN LATERAL (SELECT count(*) AS todo_count,
    count(*) FILTER (WHERE NOT todos.is_completed) AS open_count
FROM todos
WHERE todos.user_id = $4::VARCHAR AND todos.list_id = changed_lists.id) AS counts ON true
UNION ALL (SELECT {_feed_row(tomb_values)}
FROM tombstones
WHERE {_feed_since("tombstones")}
ORDER BY tombstones.change_xid, tombstones.type, tombstones.id
 LIMIT $6)) AS branches ORDER BY branches.change_xid, branches.type, branches.id
 LIMIT $6) AS page ON true ORDER BY page.change_xid, page.type, page.id
"""  # noqa: S608


FEED_SINCE = Statement(
    sql=_feed_page(),
    parameters=("horizon_taken_at", "retention", "horizon", "user_id", "old", "limit"),
)
