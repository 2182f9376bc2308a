"""The reference's SQL, written by hand to match what the API sends.

The API's statements come from SQLAlchemy (`todo_api.services.todos`) and may become
precompiled strings; these are their equivalents, spelled out so the reference does not
depend on the package: the same filters, the same index order, the same single round trip.
"""

# Every column, in the API's response order.
COLUMNS = "title, description, is_completed, id, user_id, created_at, updated_at"

# GET one: by the full key, (user_id, id).
SELECT_ONE = f"SELECT {COLUMNS} FROM todos WHERE user_id = $1 AND id = $2"  # noqa: S608

# List: one row more than the page (to know whether a next page exists), newest first,
# left-joined to the user's total so an empty page still carries the count.
LIST_PAGE = f"""
SELECT total.total, page.*
FROM (SELECT count(*) AS total FROM todos WHERE user_id = $1) AS total
LEFT OUTER JOIN (
    SELECT {COLUMNS} FROM todos WHERE user_id = $1
    ORDER BY created_at DESC, id DESC
    LIMIT $2
) AS page ON true
ORDER BY page.created_at DESC, page.id DESC
"""  # noqa: S608

# Create: the database assigns id and timestamps; every column comes back.
INSERT = f"""
INSERT INTO todos (title, description, is_completed, user_id)
VALUES ($1, $2, $3, $4)
RETURNING {COLUMNS}
"""  # noqa: S608
