"""Whether a statement the app sends would be routed to one shard by a distributed
planner (Citus), given that todos, lists, tombstones and idempotency_keys are distributed
by `user_id` and co-located (specs/scaling.md, "Citus: past one Neon database").

A statement is routable when every reference to one of those tables (a FROM or JOIN
item, the target of an UPDATE, DELETE or INSERT, the same inside every CTE and every
subquery) is pinned to ONE user:

- a table read, updated or deleted is constrained, in its own query block, by a
  conjunct `<alias>.user_id = $n` (either side; the parameter may carry a cast,
  `$n::VARCHAR` or `CAST($n AS VARCHAR)`; an unqualified `user_id = $n` counts when the
  block reads one item only). The conjunct must be one of the WHERE clause's top-level
  AND terms, or of an inner join's ON clause (a LEFT JOIN's ON constrains only its right
  side); a term under OR or NOT constrains nothing;
- a row inserted carries `user_id` among its columns, and its value is a parameter, or a
  column selected from a reference (table, CTE or subquery) itself pinned to a parameter;
- every such parameter in the statement is the same one: `$1` in one place and `$4` in
  another may be two users, hence two shards.

Anything else fails: `user_id = ANY($1)`, `IN (...)`, a range, a row comparison
`(user_id, id) > (...)`, a join `todos.user_id = lists.user_id` without a constant for
each side, a DELETE without a predicate, and any statement this module cannot read (it
fails closed). This is stricter than Citus, whose router planner also derives a
constant through the equivalence classes of a join (`todos.user_id = lists.user_id AND
lists.user_id = $1`): the app never relies on that, and the rule "each reference names
its user" is the one a reviewer can check by eye.

No SQL parser is installed in the project's environment (neither sqlglot nor pglast),
so this is a small hand-written reader of the SQL SQLAlchemy compiles for asyncpg, not
a PostgreSQL grammar. What it does: it tokenizes (string literals, dollar-quoted
strings, quoted identifiers, comments and `$n` parameters are recognised, so a table
name inside a string is not a reference), nests parenthesised groups, and splits each
query block into its clauses by keywords at its own nesting level. Its limits:

- it knows the statement shapes SQLAlchemy's PostgreSQL compiler emits (WITH, the four
  DML statements, UNION/INTERSECT/EXCEPT, JOIN ... ON, LATERAL, VALUES, ON CONFLICT,
  RETURNING, FOR UPDATE); other syntax (JOIN ... USING, NATURAL JOIN, a table inherited
  with ONLY, window clauses named in WINDOW, MERGE) is not analysed and is reported as
  not routable rather than guessed at;
- it does not resolve names through the catalog: a reference is a word that names one
  of the four tables (optionally `public.`) in a FROM-like position; a CTE named like one
  of them would shadow it in SQL but not here (the app names none so);
- it does not evaluate expressions: `user_id = $1` inside `CASE` or a function is not a
  predicate, and a constant folded by PostgreSQL (`user_id = 'alice'`) is not accepted
  either: the app always sends the user as a parameter;
- it judges one statement at a time: a transaction whose statements name different
  users' parameters would still touch several shards (the app's transactions are each
  about one user: services.idempotency, services.todo_moves).
"""

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

DISTRIBUTED_TABLES = frozenset({"todos", "lists", "tombstones", "idempotency_keys"})
DISTRIBUTION_COLUMN = "user_id"


class Unreadable(ValueError):
    """SQL this module does not analyse; counted as not routable."""


# ---- Tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word, ident (quoted), string, param, number, op
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def name(self) -> str:
        """An identifier's name as PostgreSQL folds it."""
        if self.kind == "word":
            return self.text.lower()
        if self.kind == "ident":
            return self.text[1:-1].replace('""', '"')
        return ""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<string>[EeBbXxUu]?'(?:[^']|'')*'|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<param>\$\d+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op>::|<=|>=|<>|!=|\|\||->>|->|[(),.;=<>+\-*/%\[\]:|&@#~^!?])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None:
            raise Unreadable(f"cannot read the SQL at {sql[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        if kind == "tag":  # only inside a dollar-quoted string
            kind = "string"
        if kind != "space":
            assert kind is not None  # one group always matches
            tokens.append(Token(kind, match.group()))
    return tokens


# ---- Parenthesised groups -----------------------------------------------------------


@dataclass(slots=True)
class Group:
    """The items between a pair of parentheses."""

    items: list["Item"]


Item = Token | Group


def nest(tokens: Sequence[Token]) -> list[Item]:
    stack: list[list[Item]] = [[]]
    for token in tokens:
        if token.kind == "op" and token.text == "(":
            stack.append([])
        elif token.kind == "op" and token.text == ")":
            if len(stack) == 1:
                raise Unreadable("unbalanced parentheses")
            items = stack.pop()
            stack[-1].append(Group(items))
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise Unreadable("unbalanced parentheses")
    return stack[0]


def _is_word(item: Item | None, *words: str) -> bool:
    return isinstance(item, Token) and item.upper in words


def _is_op(item: Item | None, text: str) -> bool:
    return isinstance(item, Token) and item.kind == "op" and item.text == text


def _is_query(group: Group) -> bool:
    first = group.items[0] if group.items else None
    return _is_word(first, "SELECT", "WITH", "VALUES") or (
        isinstance(first, Group) and _is_query(first)
    )


def _split(items: Sequence[Item], *words: str) -> list[list[Item]]:
    """`items` cut at each of `words` (at this nesting level), the words dropped."""
    parts: list[list[Item]] = [[]]
    for item in items:
        if _is_word(item, *words):
            parts.append([])
        else:
            parts[-1].append(item)
    return parts


def _split_commas(items: Sequence[Item]) -> list[list[Item]]:
    parts: list[list[Item]] = [[]]
    for item in items:
        if _is_op(item, ","):
            parts.append([])
        else:
            parts[-1].append(item)
    return parts


def _clauses(items: Sequence[Item], keywords: Iterable[str]) -> dict[str, list[Item]]:
    """`items` cut into clauses, each starting at one of `keywords` (at this level); what
    comes before the first is under "". Two-word keywords are written "GROUP BY"."""
    heads = {tuple(keyword.split()) for keyword in keywords}
    clauses: dict[str, list[Item]] = {"": []}
    current = ""
    index = 0
    while index < len(items):
        # `x IS [NOT] DISTINCT FROM y` is an operator, not a FROM clause.
        after_distinct = index > 0 and _is_word(items[index - 1], "DISTINCT")
        for head in sorted(heads, key=len, reverse=True) if not after_distinct else ():
            window = items[index : index + len(head)]
            if len(window) == len(head) and all(
                _is_word(item, word) for item, word in zip(window, head, strict=True)
            ):
                current = " ".join(head)
                if current in clauses:
                    raise Unreadable(f"{current} twice in one query block")
                clauses[current] = []
                index += len(head)
                break
        else:
            clauses[current].append(items[index])
            index += 1
    return clauses


# ---- Predicates ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    qualifier: str | None
    name: str


def _column(items: Sequence[Item]) -> Column | None:
    """`a.b`, `b` or `public.a.b` as a column reference, else None."""
    names: list[str] = []
    for position, item in enumerate(items):
        if position % 2 == 1:
            if not _is_op(item, "."):
                return None
        elif isinstance(item, Token) and item.kind in {"word", "ident"}:
            names.append(item.name)
        else:
            return None
    if len(items) % 2 == 0 or not 1 <= len(names) <= 3:
        return None
    return Column(names[-2] if len(names) > 1 else None, names[-1])


def _parameter(items: Sequence[Item]) -> str | None:
    """`$n`, `$n::type` or `CAST($n AS type)` as the parameter `$n`, else None."""
    first = items[0] if items else None
    if isinstance(first, Token) and first.kind == "param":
        # ::VARCHAR, ::VARCHAR(128), ::TIMESTAMP WITH TIME ZONE: words and groups only.
        casts = items[1:]
        well_formed = (not casts or _is_op(casts[0], "::")) and all(
            _is_op(item, "::")
            or (isinstance(item, Token) and item.kind == "word")
            or isinstance(item, Group)
            for item in casts
        )
        return first.text if well_formed else None
    inner: list[list[Item]] = []
    if len(items) == 2 and _is_word(first, "CAST") and isinstance(items[1], Group):
        parts = _split(items[1].items, "AS")
        inner = parts[:1] if len(parts) == 2 else []
    elif len(items) == 1 and isinstance(first, Group):
        inner = [first.items]
    return _parameter(inner[0]) if inner else None


def conjuncts(items: Sequence[Item]) -> list[list[Item]]:
    """The top-level AND terms of a condition; a condition with a top-level OR is one
    term (which pins nothing); a parenthesised AND is flattened."""
    if any(_is_word(item, "OR") for item in items):
        return [list(items)]
    terms: list[list[Item]] = []
    for term in _split(items, "AND"):
        if len(term) == 1 and isinstance(term[0], Group) and not _is_query(term[0]):
            terms.extend(conjuncts(term[0].items))
        else:
            terms.append(term)
    return terms


def _pin(term: Sequence[Item]) -> tuple[Column, str] | None:
    """A term `column = $n` (either way round) as (column, "$n"), else None."""
    equals = [index for index, item in enumerate(term) if _is_op(item, "=")]
    if len(equals) != 1:
        return None
    left, right = term[: equals[0]], term[equals[0] + 1 :]
    for column_side, value_side in ((left, right), (right, left)):
        column = _column(column_side)
        parameter = _parameter(value_side)
        if column is not None and parameter is not None:
            return column, parameter
    return None


# ---- Query blocks -------------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """An item a query block reads (or writes): a table, a CTE's name, a subquery."""

    name: str  # the table's or CTE's name; "" for a subquery
    alias: str
    distributed: bool
    # For a CTE or subquery: the parameter each output column is pinned to, if any.
    outputs: dict[str, str | None] = field(default_factory=dict)
    pins: set[str] = field(default_factory=set)  # for a distributed table


@dataclass(slots=True)
class Analysis:
    """What a statement does to the distributed tables."""

    problems: list[str] = field(default_factory=list)
    parameters: set[str] = field(default_factory=set)
    references: int = 0


_SELECT_CLAUSES = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "HAVING",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "FOR",
    "WINDOW",
)
_JOIN_WORDS = ("JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "OUTER", "NATURAL")
_SET_OPERATORS = ("UNION", "INTERSECT", "EXCEPT")


def _join_kind(words: list[str]) -> str:
    if "NATURAL" in words:
        raise Unreadable("NATURAL JOIN")
    for kind in ("LEFT", "RIGHT", "FULL"):
        if kind in words:
            return kind.lower()
    return "inner"


def _join_scope(kind: str, right: int) -> set[int] | None:
    """Which sources an ON clause constrains, the joined one being `right`: all of them
    (None) for an inner join, the right side of a LEFT JOIN, the left of a RIGHT one."""
    if kind == "left":
        return {right}
    if kind == "right":
        return set(range(right))
    if kind == "full":
        return set()
    return None


def _shifted(
    join_terms: list[tuple[list[Item], set[int] | None]],
) -> list[tuple[list[Item], set[int] | None]]:
    """ON clauses of a FROM (USING) list whose sources now come after a DML target."""
    return [(term, None if scope is None else {i + 1 for i in scope}) for term, scope in join_terms]


class _Reader:
    def __init__(self) -> None:
        self.analysis = Analysis()

    def problem(self, text: str) -> None:
        self.analysis.problems.append(text)

    # A statement, or the body of a CTE or subquery: its output columns' pins.
    def query(self, items: Sequence[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        items = list(items)
        if items and _is_word(items[0], "WITH"):
            items, ctes = self._with(items[1:], ctes)
        if not items:
            raise Unreadable("an empty query")
        first = items[0]
        if _is_word(first, "INSERT"):
            return self._insert(items[1:], ctes)
        if _is_word(first, "UPDATE"):
            return self._update(items[1:], ctes)
        if _is_word(first, "DELETE"):
            return self._delete(items[1:], ctes)
        return self._set_operation(items, ctes)

    def _with(
        self, items: list[Item], ctes: dict[str, Source]
    ) -> tuple[list[Item], dict[str, Source]]:
        ctes = dict(ctes)
        if _is_word(items[0] if items else None, "RECURSIVE"):
            raise Unreadable("WITH RECURSIVE")
        index = 0
        while True:
            name = items[index] if index < len(items) else None
            if not (isinstance(name, Token) and name.kind in {"word", "ident"}):
                raise Unreadable("a CTE without a name")
            index += 1
            if isinstance(items[index], Group):  # the CTE's column names
                raise Unreadable("a CTE with a column list")
            if not _is_word(items[index], "AS"):
                raise Unreadable("a CTE without AS")
            index += 1
            while _is_word(items[index], "NOT", "MATERIALIZED"):
                index += 1
            body = items[index]
            if not isinstance(body, Group):
                raise Unreadable("a CTE without its body")
            index += 1
            outputs = self.query(body.items, ctes)
            ctes[name.name] = Source(name.name, name.name, distributed=False, outputs=outputs)
            if not _is_op(items[index] if index < len(items) else None, ","):
                return items[index:], ctes
            index += 1

    def _set_operation(self, items: list[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        branches = _split(items, *_SET_OPERATORS)
        outputs: dict[str, str | None] | None = None
        for each in branches:
            branch = each[1:] if each and _is_word(each[0], "ALL", "DISTINCT") else each
            if len(branch) == 1 and isinstance(branch[0], Group):
                result = self.query(branch[0].items, ctes)
            elif len(branch) >= 1 and isinstance(branch[0], Group) and len(branches) > 1:
                # (SELECT ...) UNION ALL (SELECT ...) ORDER BY ... LIMIT ...
                result = self.query(branch[0].items, ctes)
                self._expressions(branch[1:], ctes)
            else:
                result = self._select(branch, ctes)
            # A column of a union is pinned only if every branch pins it the same way.
            outputs = (
                result
                if outputs is None
                else {
                    name: pin if result.get(name) == pin else None for name, pin in outputs.items()
                }
            )
        return outputs or {}

    def _select(self, items: list[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        if items and _is_word(items[0], "VALUES"):
            self._expressions(items[1:], ctes)
            return {}
        if not items or not _is_word(items[0], "SELECT"):
            raise Unreadable("a query block that is not a SELECT")
        clauses = _clauses(items, _SELECT_CLAUSES)
        if "WINDOW" in clauses:
            raise Unreadable("a WINDOW clause")
        sources, join_terms = self._from(clauses.get("FROM", []), ctes)
        terms = conjuncts(clauses["WHERE"]) if "WHERE" in clauses else []
        self._pin_sources(sources, terms, join_terms)
        for name, clause in clauses.items():
            if name not in {"FROM", "SELECT"}:
                self._expressions(clause, ctes)
        select_list = list(clauses["SELECT"])
        if select_list and _is_word(select_list[0], "DISTINCT", "ALL"):
            select_list = select_list[1:]
        return self._outputs(select_list, sources, ctes)

    def _outputs(
        self, select_list: list[Item], sources: list[Source], ctes: dict[str, Source]
    ) -> dict[str, str | None]:
        """The output columns of a select list (or a RETURNING), each with the parameter
        it is pinned to (a parameter itself, or the user_id of a pinned source)."""
        outputs: dict[str, str | None] = {}
        for expression in _split_commas(select_list):
            self._expressions(expression, ctes)
            if len(expression) == 1 and _is_op(expression[0], "*"):
                for source in sources:
                    outputs.update(self._columns_of(source))
                continue
            if len(expression) == 3 and _is_op(expression[1], ".") and _is_op(expression[2], "*"):
                qualifier = expression[0]
                for source in sources:
                    if isinstance(qualifier, Token) and source.alias == qualifier.name:
                        outputs.update(self._columns_of(source))
                continue
            value = expression
            name: str | None = None
            if len(expression) >= 3 and _is_word(expression[-2], "AS"):
                value, label = expression[:-2], expression[-1]
                name = label.name if isinstance(label, Token) else None
            pin = self._value_pin(value, sources)
            column = _column(value)
            if name is None and column is not None:
                name = column.name
            if name is not None:
                outputs[name] = pin
        return outputs

    def _columns_of(self, source: Source) -> dict[str, str | None]:
        if source.distributed:
            pin = next(iter(source.pins)) if len(source.pins) == 1 else None
            return {DISTRIBUTION_COLUMN: pin}
        return dict(source.outputs)

    def _value_pin(self, value: Sequence[Item], sources: list[Source]) -> str | None:
        """The parameter a value expression is pinned to: a parameter, or a column of a
        source (by its qualifier, or the only source) whose that column is pinned."""
        parameter = _parameter(value)
        if parameter is not None:
            return parameter
        column = _column(value)
        if column is None:
            return None
        candidates = [source for source in sources if column.qualifier in {None, source.alias}]
        if len(candidates) != 1:
            return None
        return self._columns_of(candidates[0]).get(column.name)

    def _from(
        self, items: list[Item], ctes: dict[str, Source]
    ) -> tuple[list[Source], list[tuple[list[Item], set[int] | None]]]:
        """The sources of a FROM clause, and the terms of its ON clauses, each with the
        indexes of the sources it may constrain (None: all of them)."""
        sources: list[Source] = []
        join_terms: list[tuple[list[Item], set[int] | None]] = []
        index = 0
        kind = "first"
        while index < len(items):
            if _is_op(items[index], ","):
                kind, index = "inner", index + 1
                continue
            if _is_word(items[index], *_JOIN_WORDS):
                words: list[str] = []
                while index < len(items) and _is_word(items[index], *_JOIN_WORDS):
                    token = items[index]
                    assert isinstance(token, Token)
                    words.append(token.upper)
                    index += 1
                kind = _join_kind(words)
                continue
            end = index
            while end < len(items) and not (
                _is_op(items[end], ",") or _is_word(items[end], *_JOIN_WORDS, "ON", "USING")
            ):
                end += 1
            sources.append(self._source(items[index:end], ctes))
            index = end
            if index < len(items) and _is_word(items[index], "USING"):
                raise Unreadable("JOIN ... USING")
            if index < len(items) and _is_word(items[index], "ON"):
                end = index + 1
                while end < len(items) and not (
                    _is_op(items[end], ",") or _is_word(items[end], *_JOIN_WORDS)
                ):
                    end += 1
                condition = items[index + 1 : end]
                self._expressions(condition, ctes)
                scope = _join_scope(kind, len(sources) - 1)
                join_terms.extend((term, scope) for term in conjuncts(condition))
                index = end
        return sources, join_terms

    def _source(self, items: list[Item], ctes: dict[str, Source]) -> Source:
        if items and _is_word(items[0], "LATERAL"):
            items = items[1:]
        if items and _is_word(items[0], "ONLY"):
            raise Unreadable("FROM ONLY")
        if not items:
            raise Unreadable("an empty FROM item")
        alias_items = items[1:]
        first = items[0]
        if isinstance(first, Group):
            outputs = self.query(first.items, ctes) if _is_query(first) else {}
            if not _is_query(first):
                raise Unreadable("a parenthesised join")
            return Source("", self._alias(alias_items, ""), distributed=False, outputs=outputs)
        # schema.table, a CTE's name, or a function call: name(...) [AS] alias
        name_items: list[Item] = [first]
        rest = alias_items
        if len(rest) >= 2 and _is_op(rest[0], "."):
            name_items, rest = [first, rest[0], rest[1]], rest[2:]
        if rest and isinstance(rest[0], Group):  # a set-returning function
            self._expressions(rest[:1], ctes)
            alias = self._alias(rest[1:], "")
            return Source("", alias, distributed=False)
        column = _column(name_items)
        if column is None:
            raise Unreadable("a FROM item that is not a name")
        if column.qualifier not in {None, "public"}:
            raise Unreadable(f"a table in schema {column.qualifier}")
        name = column.name
        alias = self._alias(rest, name)
        if column.qualifier is None and name in ctes:
            cte = ctes[name]
            return Source(name, alias, distributed=False, outputs=dict(cte.outputs))
        if name in DISTRIBUTED_TABLES:
            self.analysis.references += 1
            return Source(name, alias, distributed=True)
        return Source(name, alias, distributed=False)

    @staticmethod
    def _alias(items: list[Item], default: str) -> str:
        if items and _is_word(items[0], "AS"):
            items = items[1:]
        if not items:
            return default
        name = items[0]
        if (
            isinstance(name, Token)
            and name.kind in {"word", "ident"}
            and (len(items) == 1 or (len(items) == 2 and isinstance(items[1], Group)))
        ):
            return name.name
        raise Unreadable("an alias that is not a name")

    def _pin_sources(
        self,
        sources: list[Source],
        terms: list[list[Item]],
        join_terms: list[tuple[list[Item], set[int] | None]],
    ) -> None:
        """Give each distributed source the parameters its user_id is equal to, and
        report those left without exactly one."""
        every = [(term, None) for term in terms] + join_terms
        for position, source in enumerate(sources):
            if not source.distributed:
                continue
            for term, scope in every:
                if scope is not None and position not in scope:
                    continue
                pin = _pin(term)
                if pin is None or pin[0].name != DISTRIBUTION_COLUMN:
                    continue
                qualifier = pin[0].qualifier
                if qualifier == source.alias or (qualifier is None and len(sources) == 1):
                    source.pins.add(pin[1])
            self._check(source)

    def _check(self, source: Source) -> None:
        label = source.name if source.alias == source.name else f"{source.name} {source.alias}"
        if not source.pins:
            self.problem(f"{label}: no `{source.alias}.user_id = $n` predicate")
        elif len(source.pins) > 1:
            self.problem(f"{label}: pinned to several parameters {sorted(source.pins)}")
        self.analysis.parameters |= source.pins

    def _expressions(self, items: Sequence[Item], ctes: dict[str, Source]) -> None:
        """Analyse every subquery inside an expression (a scalar subquery, EXISTS, IN)."""
        for item in items:
            if isinstance(item, Group):
                if _is_query(item):
                    self.query(item.items, ctes)
                else:
                    self._expressions(item.items, ctes)

    # ---- DML -------------------------------------------------------------------------

    def _target(self, items: list[Item], ctes: dict[str, Source]) -> tuple[Source, list[Item]]:
        """The table a DML statement writes, and what follows it (its alias taken)."""
        end = 0
        while end < len(items) and not (
            isinstance(items[end], Group)
            or _is_word(
                items[end],
                "SET",
                "WHERE",
                "USING",
                "VALUES",
                "SELECT",
                "RETURNING",
                "DEFAULT",
                "OVERRIDING",
                "WITH",
            )
        ):
            end += 1
        source = self._source(items[:end], {})
        return source, items[end:]

    def _update(self, items: list[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        target, rest = self._target(items, ctes)
        clauses = _clauses(rest, ("SET", "FROM", "WHERE", "RETURNING"))
        if clauses[""]:
            raise Unreadable("an UPDATE's target followed by something unknown")
        sources, join_terms = self._from(clauses.get("FROM", []), ctes)
        self._expressions(clauses.get("SET", []), ctes)
        terms = conjuncts(clauses["WHERE"]) if "WHERE" in clauses else []
        self._expressions(clauses.get("WHERE", []), ctes)
        # The target first: a FROM item's ON clause cannot constrain it.
        everything = [target, *sources]
        self._pin_sources(everything, terms, _shifted(join_terms))
        return self._outputs(clauses.get("RETURNING", []), everything, ctes)

    def _delete(self, items: list[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        if not items or not _is_word(items[0], "FROM"):
            raise Unreadable("DELETE without FROM")
        target, rest = self._target(items[1:], ctes)
        clauses = _clauses(rest, ("USING", "WHERE", "RETURNING"))
        if clauses[""]:
            raise Unreadable("a DELETE's target followed by something unknown")
        sources, join_terms = self._from(clauses.get("USING", []), ctes)
        terms = conjuncts(clauses["WHERE"]) if "WHERE" in clauses else []
        self._expressions(clauses.get("WHERE", []), ctes)
        everything = [target, *sources]
        self._pin_sources(everything, terms, _shifted(join_terms))
        return self._outputs(clauses.get("RETURNING", []), everything, ctes)

    def _insert(self, items: list[Item], ctes: dict[str, Source]) -> dict[str, str | None]:
        if not items or not _is_word(items[0], "INTO"):
            raise Unreadable("INSERT without INTO")
        target, rest = self._target(items[1:], ctes)
        columns: list[str] = []
        if rest and isinstance(rest[0], Group):
            for column in _split_commas(rest[0].items):
                parsed = _column(column)
                if parsed is None or parsed.qualifier is not None:
                    raise Unreadable("an INSERT's column list")
                columns.append(parsed.name)
            rest = rest[1:]
        clauses = _clauses(rest, ("ON CONFLICT", "RETURNING"))
        source = clauses[""]
        self._expressions(clauses.get("ON CONFLICT", []), ctes)
        if target.distributed:
            self._insert_pin(target, columns, source, ctes)
        elif source and not _is_word(source[0], "DEFAULT"):
            self.query(source, ctes)
        return self._outputs(clauses.get("RETURNING", []), [target], ctes)

    def _insert_pin(
        self, target: Source, columns: list[str], source: list[Item], ctes: dict[str, Source]
    ) -> None:
        if DISTRIBUTION_COLUMN not in columns:
            self.problem(f"INSERT INTO {target.name}: no user_id among its columns")
            return
        position = columns.index(DISTRIBUTION_COLUMN)
        pins: set[str | None] = set()
        if source and _is_word(source[0], "VALUES"):
            for row in _split_commas(source[1:]):
                self._expressions(row, ctes)
                if len(row) != 1 or not isinstance(row[0], Group):
                    raise Unreadable("a VALUES row")
                values = _split_commas(row[0].items)
                pins.add(_parameter(values[position]) if position < len(values) else None)
        elif source:
            selected = list(self._inserted_select(source, ctes))
            pins.add(selected[position] if position < len(selected) else None)
        else:
            pins.add(None)
        if None in pins:
            self.problem(
                f"INSERT INTO {target.name}: its user_id is neither a parameter nor a "
                "pinned user_id"
            )
        found = {pin for pin in pins if pin is not None}
        if len(found) > 1:
            self.problem(f"INSERT INTO {target.name}: rows of several users {sorted(found)}")
        target.pins |= found
        self.analysis.parameters |= found

    def _inserted_select(self, items: list[Item], ctes: dict[str, Source]) -> Iterator[str | None]:
        """The pin of each column an INSERT ... SELECT selects, in order."""
        if (items and _is_word(items[0], "WITH")) or (_split(items, *_SET_OPERATORS) != [items]):
            # Its columns' pins are known by name, not by position (the app sends none).
            raise Unreadable("an INSERT from a WITH or a UNION")
        if len(items) == 1 and isinstance(items[0], Group):
            yield from self._inserted_select(items[0].items, ctes)
            return
        clauses = _clauses(items, _SELECT_CLAUSES)
        sources, join_terms = self._from(clauses.get("FROM", []), ctes)
        terms = conjuncts(clauses["WHERE"]) if "WHERE" in clauses else []
        self._pin_sources(sources, terms, join_terms)
        for name, clause in clauses.items():
            if name not in {"FROM", "SELECT"}:
                self._expressions(clause, ctes)
        select_list = list(clauses.get("SELECT", []))
        for expression in _split_commas(select_list):
            self._expressions(expression, ctes)
            value = expression
            if len(expression) >= 3 and _is_word(expression[-2], "AS"):
                value = expression[:-2]
            yield self._value_pin(value, sources)


# ---- The verdict --------------------------------------------------------------------


_STATEMENTS = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES")


def routing_problems(sql: str) -> list[str]:
    """Why `sql` would not be routed to one shard by user_id; [] when it would (or when
    it touches no distributed table)."""
    reader = _Reader()
    try:
        items = nest(tokenize(sql))
        while items and _is_op(items[-1], ";"):
            items = items[:-1]
        if any(_is_op(item, ";") for item in items):
            raise Unreadable("several statements")
        if items and not _is_word(items[0], *_STATEMENTS):
            if _mentions_distributed_table(items):
                raise Unreadable("a statement other than SELECT, INSERT, UPDATE, DELETE")
            return []
        reader.query(items, {})
    except Unreadable as exc:
        return [f"not analysed: {exc}"]
    except (IndexError, KeyError) as exc:
        return [f"not analysed: unexpected SQL ({exc!r})"]
    analysis = reader.analysis
    if len(analysis.parameters) > 1:
        analysis.problems.append(
            f"pinned to several parameters {sorted(analysis.parameters)}: maybe several users"
        )
    return analysis.problems


def _mentions_distributed_table(items: Sequence[Item]) -> bool:
    for item in items:
        if isinstance(item, Group):
            if _mentions_distributed_table(item.items):
                return True
        elif item.kind in {"word", "ident"} and item.name in DISTRIBUTED_TABLES:
            return True
    return False


def is_routable(sql: str) -> bool:
    return not routing_problems(sql)
