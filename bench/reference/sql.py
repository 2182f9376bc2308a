"""The reference's SQL, written by hand to be the statements the API sends.

The API's statements come from SQLAlchemy Core (`todo_api.services.todos`, `todo_listing`,
`todo_stats`), compiled once. These are the same statements spelled out, so the reference
does not depend on the package: the same columns (a priority read as its name and
written as its place, in the statement itself), the same filters, the same index order,
the same single round trip. They are the API's text up to whitespace, and the bench
checks that at start-up (`bench.sanity.check_sql`), so a change to the API's SQL stops
the bench until this file follows it.
"""

from dataclasses import dataclass

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

# Create: the database assigns id and timestamps; completed_at follows is_completed; every
# column comes back. Parameters: title, description, is_completed, priority (its name),
# due_at, tags, user_id.
INSERT = f"""
INSERT INTO todos (title, description, is_completed, priority, due_at, tags, user_id, completed_at)
VALUES ($1::VARCHAR, $2::VARCHAR, $3::BOOLEAN,
    CAST(array_position({_NAMES}, CAST($4 AS VARCHAR)) - 1 AS SMALLINT),
    $5::TIMESTAMP WITH TIME ZONE, CAST($6 AS TEXT[]), $7::VARCHAR,
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
    rows.priority AS priority, rows.due_at AS due_at, rows.tags AS tags
FROM jsonb_to_recordset($2::JSONB) AS rows(ordinal INTEGER, title VARCHAR(255),
    description VARCHAR(2000), is_completed BOOLEAN, priority VARCHAR,
    due_at TIMESTAMP WITH TIME ZONE, tags VARCHAR(40)[])),
inserted AS
(INSERT INTO todos (user_id, id, title, description, is_completed, priority, due_at, tags,
    completed_at)
SELECT $1 AS anon_1, given.id AS id, given.title AS title, given.description AS description,
    given.is_completed AS is_completed,
    CAST(array_position({_NAMES}, CAST(given.priority AS VARCHAR)) - 1 AS SMALLINT) AS anon_2,
    given.due_at AS due_at, CAST(given.tags AS TEXT[]) AS tags,
    CASE WHEN given.is_completed THEN now() ELSE NULL END AS anon_3
FROM given RETURNING {_PUBLIC})
SELECT {", ".join(f"inserted.{name}" for name in FIELDS)}
FROM inserted JOIN given ON inserted.id = given.id ORDER BY given.ordinal
"""  # noqa: S608

# Stats without filters: two passes over the user's rows, one counting with FILTER
# clauses, one grouping the tags case-insensitively, the 50 most used.
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
        LIMIT 50) AS per_tag) AS by_tag
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
)


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
    if sort.removeprefix("-") == "created_at":
        return f"{source}.created_at {direction}, {source}.id {direction}"
    key = _sort_key(sort) if source == "todos" else f"{source}.sort_key"
    return f"{key} {direction}, {source}.created_at DESC, {source}.id DESC"


@dataclass(frozen=True, slots=True)
class ListPage:
    """A first page: its statement, and the parameter behind each number."""

    sql: str
    parameters: tuple[str, ...]


def list_page(sort: str, *, priorities: bool, tags: bool) -> ListPage:
    """The first page of a listing in `sort`, filtered by priority and/or tags: one row
    more than the page (to know whether a next page exists), left-joined to the count of
    every match so an empty page still carries it. The tag filter compares lower-cased
    arrays; every condition appears in the count and in the page alike."""
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
    return ListPage(sql=sql, parameters=tuple(parameters))
