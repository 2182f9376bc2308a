"""What a planner distributing by user_id can route to one shard (tests.routability), and
the schema it needs: every key of the distributed tables includes user_id.

The statements are written as SQLAlchemy compiles them for asyncpg (`$n` parameters,
qualified columns), plus the shapes the app must never send.
"""

import pytest
from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import SQLModel

import todo_api.models  # noqa: F401  (registers every table on the metadata)
from tests.conftest import ALL_USERS, unroutable_statements, unscoped_statements
from tests.routability import DISTRIBUTED_TABLES, routing_problems
from todo_api.services import changes, idempotency

ROUTABLE = {
    "select": "SELECT todos.id FROM todos WHERE todos.user_id = $1::VARCHAR AND todos.id = $2",
    "param-on-the-left": "SELECT lists.id FROM lists WHERE $1::VARCHAR = lists.user_id",
    "cast": "SELECT todos.id FROM todos WHERE todos.user_id = CAST($3 AS VARCHAR)",
    "unqualified-single-table": "SELECT id FROM todos WHERE user_id = $1",
    "alias": "SELECT t.id FROM todos AS t WHERE t.user_id = $1 AND t.id = $2",
    "parenthesised-and": (
        "SELECT todos.id FROM todos WHERE (todos.user_id = $1 AND todos.is_completed)"
    ),
    "or-elsewhere": (
        "SELECT todos.id FROM todos WHERE todos.user_id = $1 "
        "AND (todos.title ILIKE $2 OR todos.description ILIKE $2)"
    ),
    "is-distinct-from": (
        "UPDATE todos SET is_completed = $1 WHERE todos.user_id = $2 "
        "AND todos.is_completed IS DISTINCT FROM $1 RETURNING todos.id"
    ),
    "insert-values": "INSERT INTO todos (title, user_id) VALUES ($1::VARCHAR, $2::VARCHAR)",
    "insert-several-rows-of-one-user": (
        "INSERT INTO todos (user_id, title) VALUES ($1, $2), ($1, $3) RETURNING todos.id"
    ),
    "upsert": (
        "INSERT INTO idempotency_keys (user_id, key) VALUES ($1, $2) "
        "ON CONFLICT (user_id, key) DO UPDATE SET created_at = now() "
        "WHERE idempotency_keys.created_at <= now() RETURNING idempotency_keys.user_id"
    ),
    "join-each-side-pinned": (
        "SELECT todos.id FROM todos JOIN lists ON lists.user_id = todos.user_id "
        "AND lists.id = todos.list_id AND lists.user_id = $1 WHERE todos.user_id = $1"
    ),
    "left-join-right-side-pinned-in-on": (
        "SELECT lists.id, todos.id FROM lists LEFT OUTER JOIN todos "
        "ON todos.user_id = $1 AND todos.list_id = lists.id WHERE lists.user_id = $1"
    ),
    "lateral": (
        "SELECT changed.id, counts.n FROM (SELECT lists.id AS id FROM lists "
        "WHERE lists.user_id = $1 LIMIT $2) AS changed JOIN LATERAL (SELECT count(*) AS n "
        "FROM todos WHERE todos.user_id = $1 AND todos.list_id = changed.id) AS counts ON true"
    ),
    "scalar-subquery": (
        "SELECT (SELECT count(*) FROM todos WHERE todos.user_id = $1) AS n, lists.id "
        "FROM lists WHERE lists.user_id = $1"
    ),
    "union": (
        "SELECT branches.id FROM ((SELECT todos.id AS id FROM todos WHERE todos.user_id = $1 "
        "LIMIT $2) UNION ALL (SELECT lists.id AS id FROM lists WHERE lists.user_id = $1 "
        "LIMIT $2)) AS branches ORDER BY branches.id"
    ),
    "delete-with-its-tombstone": (
        "WITH gone AS (DELETE FROM todos WHERE todos.user_id = $1::VARCHAR "
        "AND todos.id = $2::UUID RETURNING todos.id) INSERT INTO tombstones (user_id, type, id) "
        "SELECT $1::VARCHAR AS anon_1, 'todo', gone.id FROM gone "
        "ON CONFLICT (user_id, type, id) DO UPDATE SET change_xid = pg_current_xact_id() "
        "RETURNING tombstones.id"
    ),
    "insert-user-id-from-a-pinned-cte": (
        "WITH gone AS (DELETE FROM todos WHERE todos.user_id = $1 RETURNING todos.user_id, "
        "todos.id) INSERT INTO tombstones (user_id, type, id) "
        "SELECT gone.user_id, 'todo', gone.id FROM gone"
    ),
    "insert-user-id-from-a-pinned-table": (
        "INSERT INTO tombstones (user_id, type, id) SELECT todos.user_id, 'todo', todos.id "
        "FROM todos WHERE todos.user_id = $1 AND todos.is_completed"
    ),
    "table-name-in-a-string": "SELECT 'DELETE FROM todos' AS text",
    "no-distributed-table": "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
}

NOT_ROUTABLE = {
    "no-predicate": "SELECT todos.id FROM todos WHERE todos.id = $1::UUID",
    "delete-everything": "DELETE FROM todos",
    "update-everything": "UPDATE lists SET name = $1",
    "any": "SELECT todos.id FROM todos WHERE todos.user_id = ANY($1)",
    "in-list": "SELECT todos.id FROM todos WHERE todos.user_id IN ($1, $2)",
    "in-subquery": (
        "SELECT todos.id FROM todos WHERE todos.user_id IN "
        "(SELECT lists.user_id FROM lists WHERE lists.user_id = $1)"
    ),
    "range": "SELECT todos.id FROM todos WHERE todos.user_id >= $1 AND todos.user_id <= $1",
    "row-comparison": "SELECT todos.id FROM todos WHERE (todos.user_id, todos.id) > ($1, $2)",
    "literal-instead-of-parameter": "SELECT todos.id FROM todos WHERE todos.user_id = 'alice'",
    "under-or": "SELECT todos.id FROM todos WHERE todos.user_id = $1 OR todos.id = $2",
    "under-not": "SELECT todos.id FROM todos WHERE NOT todos.user_id = $1",
    "two-user-parameters": (
        "SELECT todos.id FROM todos JOIN lists ON lists.user_id = $2 "
        "AND lists.id = todos.list_id WHERE todos.user_id = $1"
    ),
    "two-user-parameters-in-ctes": (
        "WITH a AS (SELECT todos.id FROM todos WHERE todos.user_id = $1), "
        "b AS (SELECT lists.id FROM lists WHERE lists.user_id = $2) SELECT * FROM a, b"
    ),
    "one-table-pinned-twice": (
        "SELECT todos.id FROM todos WHERE todos.user_id = $1 AND todos.user_id = $2"
    ),
    "join-on-user-id-alone": (
        "SELECT todos.id FROM todos JOIN lists ON todos.user_id = lists.user_id "
        "AND lists.id = todos.list_id WHERE todos.user_id = $1"
    ),
    "other-alias-pinned": (
        "SELECT t.id FROM todos AS t, todos AS u WHERE t.user_id = $1 AND t.id = u.id"
    ),
    "unqualified-with-two-tables": (
        "SELECT todos.id FROM todos, lists WHERE user_id = $1 AND lists.id = todos.list_id"
    ),
    "left-join-on-pins-only-the-right-side": (
        "SELECT todos.id FROM todos LEFT OUTER JOIN lists "
        "ON todos.user_id = $1 AND lists.user_id = $1"
    ),
    "unpinned-scalar-subquery": (
        "SELECT (SELECT count(*) FROM todos) AS n FROM lists WHERE lists.user_id = $1"
    ),
    "unpinned-subquery-in-from": (
        "SELECT page.id FROM (SELECT todos.id FROM todos WHERE todos.id = $2) AS page, lists "
        "WHERE lists.user_id = $1"
    ),
    "unpinned-cte": (
        "WITH gone AS (DELETE FROM tombstones WHERE tombstones.deleted_at < now() "
        "RETURNING tombstones.id) SELECT count(*) FROM gone"
    ),
    "unpinned-union-branch": (
        "(SELECT todos.id FROM todos WHERE todos.user_id = $1) UNION ALL "
        "(SELECT lists.id FROM lists)"
    ),
    "insert-without-user-id": "INSERT INTO todos (title) VALUES ($1)",
    "insert-user-id-computed": "INSERT INTO todos (user_id, title) VALUES (lower($1), $2)",
    "insert-rows-of-two-users": "INSERT INTO todos (user_id, title) VALUES ($1, $2), ($3, $4)",
    "insert-user-id-from-an-unpinned-select": (
        "INSERT INTO tombstones (user_id, type, id) SELECT todos.user_id, 'todo', todos.id "
        "FROM todos WHERE todos.is_completed"
    ),
    "insert-user-id-from-an-unpinned-cte": (
        "WITH gone AS (DELETE FROM todos WHERE todos.id = $1 RETURNING todos.user_id, todos.id) "
        "INSERT INTO tombstones (user_id, type, id) SELECT gone.user_id, 'todo', gone.id FROM gone"
    ),
    "insert-user-id-other-than-the-pinned-one": (
        "WITH gone AS (DELETE FROM todos WHERE todos.user_id = $1 RETURNING todos.id) "
        "INSERT INTO tombstones (user_id, type, id) SELECT $2, 'todo', gone.id FROM gone"
    ),
    "truncate": "TRUNCATE todos",
    "unreadable-join-using": "SELECT todos.id FROM todos JOIN lists USING (user_id)",
    "two-statements": "SELECT 1; DELETE FROM todos",
}


@pytest.mark.parametrize("sql", ROUTABLE.values(), ids=ROUTABLE.keys())
def test_a_statement_pinned_to_one_user_is_routable(sql: str) -> None:
    assert routing_problems(sql) == []


@pytest.mark.parametrize("sql", NOT_ROUTABLE.values(), ids=NOT_ROUTABLE.keys())
def test_a_statement_not_pinned_to_one_user_is_not(sql: str) -> None:
    assert routing_problems(sql) != []


def test_the_audit_reports_each_statement_once_with_its_reasons() -> None:
    scoped, unscoped = ROUTABLE["select"], NOT_ROUTABLE["any"]

    assert unroutable_statements([scoped, unscoped, unscoped]) == {
        unscoped: ["todos: no `todos.user_id = $n` predicate"]
    }
    assert unscoped_statements([scoped, unscoped]) == [unscoped]


def test_only_the_purges_are_allowed_to_reach_every_user_and_each_says_why() -> None:
    assert set(ALL_USERS) == {changes.PURGE.sql, idempotency.PURGE.sql}
    for sql, reason in ALL_USERS.items():
        # Exempt because they are not routable, not by accident of the reader.
        assert routing_problems(sql) != []
        assert "purge" in reason
        assert not reason.startswith("NOT ROUTABLE"), "an app statement to fix"
    assert unroutable_statements(list(ALL_USERS)) == {}


# ---- The schema a distributed planner needs -------------------------------------------


def test_every_distributed_table_is_in_the_models() -> None:
    assert SQLModel.metadata.tables.keys() >= DISTRIBUTED_TABLES


@pytest.mark.parametrize("name", sorted(DISTRIBUTED_TABLES))
def test_every_key_of_a_distributed_table_includes_user_id(name: str) -> None:
    """Citus can enforce a PRIMARY KEY, UNIQUE constraint or unique index only if it
    includes the distribution column (each shard checks its own rows)."""
    table = SQLModel.metadata.tables[name]
    keys: list[tuple[str, list[str]]] = []
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
            keys.append((str(constraint.name), [column.name for column in constraint.columns]))
    index: Index
    for index in table.indexes:
        if index.unique:
            names = [getattr(expression, "name", None) for expression in index.expressions]
            keys.append((str(index.name), [str(column) for column in names if column]))

    assert any(isinstance(c, PrimaryKeyConstraint) for c in table.constraints)
    assert keys
    for key_name, columns in keys:
        assert "user_id" in columns, (name, key_name, columns)


@pytest.mark.parametrize("name", sorted(DISTRIBUTED_TABLES))
def test_foreign_keys_stay_on_the_users_shard(name: str) -> None:
    """A foreign key between distributed tables must join them on the distribution
    column: its user_id refers to the referred table's user_id. None refers outside."""
    table = SQLModel.metadata.tables[name]
    for constraint in table.constraints:
        if not isinstance(constraint, ForeignKeyConstraint):
            continue
        referred = constraint.referred_table.name
        assert referred in DISTRIBUTED_TABLES, (constraint.name, referred)
        pairs = [(element.parent.name, element.column.name) for element in constraint.elements]
        assert ("user_id", "user_id") in pairs, (constraint.name, pairs)
