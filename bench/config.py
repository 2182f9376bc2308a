"""Every knob of the bench, read once from the environment.

Durations are whole seconds because wrk's `-d` takes no fractions. Quick mode exists so a
change to the harness can be tried end to end in about two minutes instead of twelve.

A full run measures everything three times and reports medians: on a shared machine one
run of the same code can differ enough from the next to flip a target's verdict. Quick
mode measures once, because it checks the harness, not the API.
"""

import os
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"
RESULTS_PATH = BENCH_DIR / "RESULTS.md"

# The dataset of the issue: many ordinary users, and one user with a very long list.
USERS = 1000
TODOS_PER_USER = 100
BIG_USER_TODOS = 100_000
ID_SAMPLE = 20_000
USER_PREFIX = "bench-user-"
BIG_USER = "bench-big-user"
DELETE_USER_PREFIX = "bench-del-"
# Bulk creates go to users of their own, so the ordinary users' lists do not grow by
# thousands of todos before the measurements that list them.
BULK_USER_PREFIX = "bench-bulk-"
BULK_SIZE = 20
SANITY_USER = "bench-sanity"
# Each ordinary user's lists (the first holds 60 of their 100 todos, see bench/seed.py),
# and the projects of the long list's user. The listing in position order and the moves
# use each ordinary user's first list.
USER_LISTS = ("Work", "Home", "Errands")
MOVED_LIST = USER_LISTS[0]
BIG_USER_LISTS = 9
PAGE_SIZE = 50
DEEP_PAGE = 1000
# The filtered and sorted list: two of the four priorities, soonest due first.
FILTERED_QUERY = "?priority=high&priority=medium&sort=due_at&limit=50"
# The growth phase's sizes (ordinary users' todos in the table, besides the long list's
# user): the long mode's, and those of `--only growth` without it (two, for one ratio).
GROWTH_LONG_SIZES = (100_000, 1_000_000, 10_000_000)
GROWTH_SHORT_SIZES = (100_000, 1_000_000)
# COPY and VACUUM (ANALYZE) of the growth phase's rows, rows a second, measured on the
# 2-core machine of RESULTS.md (2026-12-02, 1,000,000 todos): for the estimate at the start.
GROWTH_SEED_ROWS_PER_SECOND = 10_000


class ConfigError(ValueError):
    """A BENCH_* variable holds something unusable."""


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _sizes(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        sizes = tuple(sorted({int(part) for part in raw.replace(",", " ").split()}))
    except ValueError:
        raise ConfigError(f"{name} must be whole numbers, not {raw!r}") from None
    if not sizes or sizes[0] < 1000:
        raise ConfigError(f"{name}: every size must be at least 1000")
    return sizes


def _out_dir(raw: str) -> Path:
    """bench/out, or BENCH_OUT_DIR (relative to the checkout), which must lie inside the
    checkout: a second bench on the same machine then has a database and files of its own."""
    if not raw:
        return BENCH_DIR / "out"
    path = (REPO_DIR / raw).resolve()
    if not path.is_relative_to(REPO_DIR):
        raise ConfigError(f"BENCH_OUT_DIR must be inside {REPO_DIR}, not {raw!r}")
    return path


def parse_only(text: str) -> frozenset[str] | None:
    """`a,b` (commas or spaces) as a set of names; None when there are none."""
    names = frozenset(text.replace(",", " ").split())
    return names or None


@dataclass(frozen=True, slots=True)
class Config:
    """What one `make bench` run does."""

    quick: bool
    warmup: int
    duration: int
    connections: int
    few_connections: int
    threads: int
    repeats: int
    sort_duration: int
    sort_repeats: int
    # GET one with settings on and off: fresh servers for each repeat (`settings_pairs`).
    settings_repeats: int
    reference_pool: int
    database_url: str | None
    out_dir: Path
    # The scenarios to run (`--only` or BENCH_ONLY, names of bench.scenarios.SCENARIOS);
    # None: all of them, and RESULTS.md is written.
    only: frozenset[str] | None = None
    # BENCH_LONG=1 or --long: also the growth phase, at GROWTH_LONG_SIZES.
    long: bool = False
    growth_sizes: tuple[int, ...] = GROWTH_SHORT_SIZES

    @classmethod
    def from_env(cls) -> "Config":
        quick = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
        long = os.environ.get("BENCH_LONG", "").strip() not in ("", "0")
        return cls(
            quick=quick,
            warmup=_int("BENCH_WARMUP", 1 if quick else 3, minimum=0),
            duration=_int("BENCH_DURATION", 3 if quick else 10),
            connections=_int("BENCH_CONNECTIONS", 64),
            few_connections=_int("BENCH_FEW_CONNECTIONS", 4),
            threads=_int("BENCH_THREADS", 2),
            repeats=_int("BENCH_REPEATS", 1 if quick else 3),
            sort_duration=_int("BENCH_SORT_DURATION", 3 if quick else 5),
            sort_repeats=_int("BENCH_SORT_REPEATS", 1),
            settings_repeats=_int("BENCH_SETTINGS_REPEATS", 1 if quick else 5),
            reference_pool=_int("BENCH_REFERENCE_POOL", 10),
            database_url=os.environ.get("BENCH_DATABASE_URL") or None,
            out_dir=_out_dir(os.environ.get("BENCH_OUT_DIR", "").strip()),
            only=parse_only(os.environ.get("BENCH_ONLY", "")),
            long=long,
            growth_sizes=_sizes(
                "BENCH_GROWTH_SIZES", GROWTH_LONG_SIZES if long else GROWTH_SHORT_SIZES
            ),
        )

    def selected(self, scenario: str) -> bool:
        """Whether `scenario` runs: every one does unless `only` names some, but the growth
        phase only when named or in the long mode, and the serving phase only when named."""
        if self.only is None:
            return scenario not in {"growth", "serving"} or (scenario == "growth" and self.long)
        return scenario in self.only

    def path(self, *parts: str) -> Path:
        """A file under the output directory, its folder created."""
        target = self.out_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
