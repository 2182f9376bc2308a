"""Everything one run measured, collected by `bench.scenarios` and rendered by `bench.report`.

Each measurement is repeated BENCH_REPEATS times and every repeat is kept (and saved), so
a surprising median can be traced to the runs behind it. The report reads each
measurement through a `Summary`, never through one repeat.
"""

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.growth import SeedStep
from bench.rss import RssPeak
from bench.wrk import WrkResult

# The endpoints the API and the reference both serve, in report order; with one worker
# each, also those of SINGLE_SHARED.
SHARED = (("get_one", "GET one"), ("list50", "list 50"), ("create", "create"))
SINGLE_SHARED = (
    ("get_one", "GET one"),
    ("list50", "list 50"),
    ("list_filtered", "list, filtered and sorted"),
    ("create", "create"),
    ("bulk", "bulk create of 20"),
    ("list_position", "list 50 of a list, position order"),
    ("move", "move after a neighbour"),
    ("conditional_get", "GET one, If-None-Match: its ETag (304)"),
    ("idempotent_create", "create, new Idempotency-Key"),
    ("idempotent_replay", "create, Idempotency-Key replayed"),
    ("changes_empty", "change feed, empty poll"),
    ("patch", "PATCH"),
    ("delete", "DELETE"),
)
# GET one on the same API with one setting changed, measured at the same time as the API
# at its defaults (JWT auth off, metrics on), each pair on servers of its own: (the
# prefix of the changed server's key, whose defaults' twin is `<prefix>_base`; its label;
# whether the defaults are the `on` side of the ratio). The control changes nothing: two
# servers at the defaults, so what two identical servers differ by.
SETTINGS_PAIRS = (
    ("opt_jwt", "JWT auth on (AUTH_JWT_SECRET, HS256)", False),
    ("opt_nometrics", "metrics off (METRICS_ENABLED=false)", True),
    ("opt_control", "the defaults again (the control)", False),
)


def settings_keys(prefix: str) -> tuple[str, str]:
    """The keys of a settings pair's runs: the changed server's, and its defaults' twin."""
    return f"{prefix}.get_one", f"{prefix}_base.get_one"


API_ONLY = (("mix", "mix 80% read / 20% write"),)


def sort_name(sort: str) -> str:
    """The measurement key's prefix for a sort's pages: `-due_at` is `sort.due_at_desc`."""
    return f"sort.{sort.removeprefix('-')}_{'desc' if sort.startswith('-') else 'asc'}"


@dataclass(frozen=True, slots=True)
class Summary:
    """One measurement over its repeats, as the report shows it.

    req/s is that of the repeat with the median req/s, and p50 and p99 are each the median
    of the repeats' own, so one disturbed repeat does not move them. Errors are summed and
    CPU elsewhere is the largest, so one disturbed repeat does not hide either. With an
    even number of repeats the median is the less flattering of the middle two (lower
    req/s, higher latency), so a verdict never rests on an average no run produced.
    """

    repeats: tuple[WrkResult, ...]
    median: WrkResult  # the repeat with the median req/s
    p50_ms: float
    p99_ms: float
    status_errors: int
    socket_errors: int
    others_cpu: float
    statuses: dict[str, int]
    # The median over the repeats of the server's CPU time per request, in microseconds
    # (the less flattering of the middle two, like the latencies); None if not measured.
    server_cpu_us: float | None = None

    @classmethod
    def of(cls, repeats: Sequence[WrkResult]) -> "Summary":
        if not repeats:
            raise ValueError("a summary needs at least one repeat")
        median_rps = statistics.median_low(run.rps for run in repeats)
        statuses: Counter[str] = Counter()
        for run in repeats:
            statuses.update(run.statuses)
        return cls(
            repeats=tuple(repeats),
            median=next(run for run in repeats if run.rps == median_rps),
            p50_ms=statistics.median_high(run.p50_ms for run in repeats),
            p99_ms=statistics.median_high(run.p99_ms for run in repeats),
            status_errors=sum(run.status_errors for run in repeats),
            socket_errors=sum(run.socket_errors for run in repeats),
            others_cpu=max(run.others_cpu for run in repeats),
            statuses=dict(sorted(statuses.items())),
            server_cpu_us=_median_high(run.server_cpu_us for run in repeats),
        )

    @property
    def rps(self) -> float:
        return self.median.rps

    @property
    def requests(self) -> int:
        """Over all repeats, as the errors are."""
        return sum(run.requests for run in self.repeats)

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors

    def to_json(self) -> dict[str, object]:
        return {
            "repeats": len(self.repeats),
            "median_repeat": self.repeats.index(self.median) + 1,
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "errors": self.errors,
            "others_cpu": self.others_cpu,
            "server_cpu_us": self.server_cpu_us,
        }


def _median_high(values: Iterable[float | None]) -> float | None:
    """The median of the values measured, None if any is missing (no median of a part)."""
    measured = list(values)
    if not measured or any(value is None for value in measured):
        return None
    return statistics.median_high(value for value in measured if value is not None)


@dataclass(slots=True)
class Results:
    """Runs are keyed `<server>.<endpoint>`: server is api, ref, floor (the FastAPI
    floor), api_pool8, api2, ref2, big, opt_jwt, opt_nometrics, opt_control (each with its
    `_base` twin),
    `sort.<sort>` for the other sorts' pages (`sort_name`), or `growth.<size>.<request>`
    for the growth phase. Each key holds its repeats in the order they ran. `walks` holds
    the seconds each walk to page 1,000 took, by sort."""

    runs: dict[str, list[WrkResult]] = field(default_factory=dict)
    rss: dict[str, RssPeak] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    walks: dict[str, float] = field(default_factory=dict)
    log_lines: dict[str, int] = field(default_factory=dict)
    # The growth phase's COPY steps, smallest size first.
    growth_seed: list[SeedStep] = field(default_factory=list)

    def add(self, key: str, result: WrkResult) -> None:
        self.runs.setdefault(key, []).append(result)

    def run(self, key: str) -> Summary | None:
        """The measurement over its repeats, or None if it was not run."""
        repeats = self.runs.get(key)
        return Summary.of(repeats) if repeats else None

    def repeats(self, key: str) -> list[WrkResult]:
        return self.runs.get(key, [])

    def save(self, path: Path) -> None:
        """The raw numbers, every repeat and the medians, for diffing two runs."""
        summaries = {key: Summary.of(repeats) for key, repeats in self.runs.items() if repeats}
        document = {
            "machine": self.machine,
            "runs": {key: [run.to_json() for run in repeats] for key, repeats in self.runs.items()},
            "medians": {key: summary.to_json() for key, summary in summaries.items()},
            "rss_kb": {key: {"hwm": p.hwm_kb, "rss": p.rss_kb} for key, p in self.rss.items()},
            "walk_seconds": self.walks,
            "notes": self.notes,
            "log_lines": self.log_lines,
            "growth_seed": [step.to_json() for step in self.growth_seed],
        }
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
