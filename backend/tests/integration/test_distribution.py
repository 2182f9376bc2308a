"""The migrated schema can be distributed by user_id as specs/scaling.md says ("Citus:
past one Neon database"): PostgreSQL's catalog, not the models, is the witness here.

Citus enforces a primary key, a unique constraint or a unique index only when it
includes the distribution column, and a foreign key between distributed tables only
when it joins them on it; a sequence a worker may draw from must be a bigint one.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.routability import DISTRIBUTED_TABLES

# The coordinator keeps this one as a plain local table: only migrations use it.
LOCAL_TABLES = frozenset({"alembic_version"})


async def _rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(sa.text(sql))).all())


async def test_every_table_is_distributed_by_user_id_or_local(admin_engine: AsyncEngine) -> None:
    """No table needs to be a reference table: every table of users' data is one of the
    distributed ones, each with a NOT NULL user_id of one type (co-location needs it)."""
    tables = await _rows(
        admin_engine,
        "SELECT c.relname, a.attnotnull, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'user_id' "
        "AND NOT a.attisdropped "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )
    names = {name for name, _, _ in tables}
    assert names - LOCAL_TABLES == DISTRIBUTED_TABLES, "classify the new table in scaling.md"
    distribution_columns = {
        (not_null, type_) for name, not_null, type_ in tables if name in DISTRIBUTED_TABLES
    }
    assert distribution_columns == {(True, "character varying(128)")}


async def test_every_key_of_a_distributed_table_includes_user_id(
    admin_engine: AsyncEngine,
) -> None:
    keys = await _keys(admin_engine)
    assert {table for table, _, kind, _ in keys if kind == "p"} == DISTRIBUTED_TABLES
    for table, name, _, columns in keys:
        assert "user_id" in columns, (table, name, columns)


async def _keys(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        result = await connection.execute(
            sa.text(
                "SELECT c.conrelid::regclass::text, c.conname, c.contype::text, "
                "  array(SELECT a.attname::text FROM unnest(c.conkey) AS k(attnum) "
                "        JOIN pg_attribute a "
                "        ON a.attrelid = c.conrelid AND a.attnum = k.attnum) "
                "FROM pg_constraint c "
                "WHERE c.contype IN ('p', 'u', 'x') "
                "AND c.conrelid::regclass::text = ANY(:tables)"
            ),
            {"tables": sorted(DISTRIBUTED_TABLES)},
        )
        return list(result.all())


async def test_every_unique_index_of_a_distributed_table_includes_user_id(
    admin_engine: AsyncEngine,
) -> None:
    """Unique indexes too, those on an expression included (one list name per user,
    whatever its case: `(user_id, lower(name))`)."""
    async with admin_engine.connect() as connection:
        indexes = (
            await connection.execute(
                sa.text(
                    "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, "
                    "  array(SELECT a.attname::text FROM unnest(i.indkey) AS k(attnum) "
                    "        JOIN pg_attribute a "
                    "        ON a.attrelid = i.indrelid AND a.attnum = k.attnum) "
                    "FROM pg_index i "
                    "WHERE i.indisunique AND i.indrelid::regclass::text = ANY(:tables)"
                ),
                {"tables": sorted(DISTRIBUTED_TABLES)},
            )
        ).all()
    names = {name for _, name, _ in indexes}
    assert "uq_lists_user_id_lower_name" in names
    for table, name, columns in indexes:
        assert "user_id" in columns, (table, name, columns)


async def test_foreign_keys_join_distributed_tables_on_user_id(admin_engine: AsyncEngine) -> None:
    """Every foreign key of (or to) a distributed table is between two of them, and pairs
    user_id with user_id: the referenced row is always on the referencing row's shard."""
    async with admin_engine.connect() as connection:
        foreign_keys = (
            await connection.execute(
                sa.text(
                    "SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text, "
                    "  array(SELECT a.attname::text || '=' || b.attname::text "
                    "        FROM unnest(c.conkey, c.confkey) AS k(attnum, fattnum) "
                    "        JOIN pg_attribute a "
                    "        ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
                    "        JOIN pg_attribute b "
                    "        ON b.attrelid = c.confrelid AND b.attnum = k.fattnum) "
                    "FROM pg_constraint c WHERE c.contype = 'f' "
                    "AND (c.conrelid::regclass::text = ANY(:tables) "
                    "     OR c.confrelid::regclass::text = ANY(:tables))"
                ),
                {"tables": sorted(DISTRIBUTED_TABLES)},
            )
        ).all()
    assert {name for name, _, _, _ in foreign_keys} == {"fk_todos_user_id_list_id_lists"}
    for name, table, referred, pairs in foreign_keys:
        assert {table, referred} <= DISTRIBUTED_TABLES, name
        assert "user_id=user_id" in pairs, (name, pairs)


async def test_the_position_sequence_is_bigint(admin_engine: AsyncEngine) -> None:
    """Citus lets a worker draw from a bigint sequence only (its own range of 2**48
    values); an int or smallint one could only be used through the coordinator."""
    sequences = await _rows(
        admin_engine,
        "SELECT sequencename, data_type::text FROM pg_sequences WHERE schemaname = 'public'",
    )
    assert sequences == [("todos_position_seq", "bigint")]
