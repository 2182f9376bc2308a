"""bench/RESULTS.md: the numbers as Markdown tables, and the issue's targets checked
against them. Every verdict is computed here from the measurements, never typed in.

Each number is a `Summary` of the repeats (medians, errors summed, CPU elsewhere at its
worst); where one run's number could flip a verdict, its range over the runs is shown
next to it, so a reader sees how far the median is from the noise.
"""

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.config import (
    BIG_USER_LISTS,
    BIG_USER_TODOS,
    BULK_SIZE,
    DEEP_PAGE,
    FILTERED_QUERY,
    ID_SAMPLE,
    MOVED_LIST,
    TODOS_PER_USER,
    USER_LISTS,
    USERS,
    Config,
)
from bench.reference.sql import USER_SORTS
from bench.results import (
    API_ONLY,
    SETTINGS_PAIRS,
    SHARED,
    SINGLE_SHARED,
    Results,
    Summary,
    settings_keys,
    sort_name,
)
from bench.rss import RssPeak
from bench.scenarios import GROWTH_PROJECTED, growth_key
from bench.wrk import WrkResult

# The targets of the third performance issue (the first one's were 0.6, 0.5 and 0.5).
RATIO_TARGETS = {"get_one": 0.8, "list50": 0.8, "create": 0.75, "patch": 0.75, "delete": 0.75}
# The planning fields' issue: the ratios stay at least where RESULTS.md had them before
# (2026-11-23, code 5aab351).
RATIO_FLOORS = {"get_one": 0.64, "list50": 0.71, "create": 0.63}
# The issue of conditional requests, Idempotency-Keys, the change feed, JWT auth and
# metrics: (measurement, what it is compared with, the lowest req/s ratio, the goal, whether
# the two took turns run by run, so that run i of one pairs with run i of the other).
FEATURE_TARGETS = (
    (
        "api.conditional_get",
        "api.get_one",
        1.0,
        "GET one with If-None-Match: its ETag (304): req/s >= GET one's",
        False,
    ),
    (
        "api.idempotent_create",
        "api.create",
        0.8,
        "create with a new Idempotency-Key: req/s >= 0.8 x create's",
        False,
    ),
    (
        "api.changes_empty",
        "api.get_one",
        1.0,
        "change feed, empty poll: req/s >= GET one's",
        False,
    ),
)
# A setting's cost, GET one with it changed against the defaults measured at the same
# moments: (the pair's prefix, the lowest req/s ratio on / off, the goal).
SETTINGS_TARGETS = (
    ("opt_jwt", 0.85, "GET one with JWT auth on: within 15% of auth off (same app)"),
    ("opt_nometrics", 0.95, "GET one with metrics on: within 5% of metrics off (same app)"),
)
SINGLE_P99_MS = 50.0
LIST_P99_MS = 100.0
DEEP_PAGE_FACTOR = 1.5
# The growth issue: each request's p50 at every size within this of the smallest size's.
GROWTH_FACTOR = 1.5
RSS_LIMIT_MB = 150.0
# Share of CPU time used by other processes above which a run is flagged as disturbed.
NOISY = 0.05
_CELLS = ("req/s", "p50 ms", "p99 ms", "errors", "CPU elsewhere", "server CPU µs/req")
# The dash of a range over the runs ("0.62 to 0.74"), by name: ruff flags the character.
_EN_DASH = "\N{EN DASH}"


@dataclass(frozen=True, slots=True)
class Target:
    goal: str
    measured: str
    met: bool | None  # None: not measured, unless `verdict` says otherwise
    disturbed: bool = False  # a run behind it had other processes taking CPU
    verdict: str | None = None  # instead of met / not met: a figure without a bound


def _disturbed(*runs: Summary | None) -> bool:
    return any(run is not None and run.others_cpu > NOISY for run in runs)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mb(peak: RssPeak) -> float:
    return peak.hwm_kb * 1024 / 1e6


def _errors(run: Summary) -> str:
    if not run.errors:
        return "0"
    parts = [f"{code}: {n}" for code, n in run.statuses.items() if not code.startswith("2")]
    if run.socket_errors:
        parts.append(f"socket: {run.socket_errors}")
    return f"**{run.errors}** ({', '.join(parts)})"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _cells(run: Summary | None) -> list[str]:
    if run is None:
        return ["not run"] * len(_CELLS)
    others = f"**{run.others_cpu:.0%}**" if run.others_cpu > NOISY else f"{run.others_cpu:.0%}"
    server = "—" if run.server_cpu_us is None else f"{run.server_cpu_us:,.0f}"
    return [f"{run.rps:,.0f}", _ms(run.p50_ms), _ms(run.p99_ms), _errors(run), others, server]


def _ratio(api: Summary | None, ref: Summary | None) -> float | None:
    """The median req/s over the median req/s, so it can be checked against the table."""
    if api is None or ref is None or not ref.rps:
        return None
    return api.rps / ref.rps


def _spread(values: Iterable[float], show: Callable[[float], str]) -> str:
    """The lowest and highest over the runs in brackets, or nothing when there was only
    one: how far one run could have moved the number, so how near a verdict is to noise."""
    values = list(values)
    if len(values) < 2:
        return ""
    return f" ({show(min(values))}{_EN_DASH}{show(max(values))})"


def _paired(a: Summary, b: Summary, value: Callable[[WrkResult, WrkResult], float]) -> list[float]:
    """`value` of run i of `a` with run i of `b`: they ran one after the other, so each pair
    saw about the same machine, which a ratio of two medians does not guarantee."""
    return [value(x, y) for x, y in zip(a.repeats, b.repeats, strict=False)]


def _ratio_text(api: Summary, ref: Summary, ratio: float, *, bold: bool) -> str:
    pairs = _paired(api, ref, lambda x, y: x.rps / y.rps if y.rps else 0.0)
    text = f"**{ratio:.2f}**" if bold else f"{ratio:.2f}"
    return text + _spread(pairs, lambda v: f"{v:.2f}")


def _p99_text(run: Summary) -> str:
    return f"p99 {_ms(run.p99_ms)} ms" + _spread((r.p99_ms for r in run.repeats), _ms)


def _page_factor(first: Summary, deep: Summary, *, bold: bool) -> str:
    """Page 1,000's median p50 over page 1's, with the range over paired runs."""
    pairs = _paired(deep, first, lambda x, y: x.p50_ms / y.p50_ms if y.p50_ms else 0.0)
    factor = f"{deep.p50_ms / first.p50_ms:.2f}x"
    return (f"**{factor}**" if bold else factor) + _spread(pairs, lambda v: f"{v:.2f}x")


def _comparison(
    results: Results,
    api: str,
    ref: str,
    shared: tuple[tuple[str, str], ...],
    extra: tuple[tuple[str, str], ...],
) -> list[str]:
    rows = []
    for key, label in shared:
        api_run, ref_run = results.run(f"{api}.{key}"), results.run(f"{ref}.{key}")
        ratio = _ratio(api_run, ref_run)
        if ratio is None or api_run is None or ref_run is None:
            cell = "—"
        else:
            cell = _ratio_text(api_run, ref_run, ratio, bold=True)
        rows.append([label, "API", *_cells(api_run), cell])
        rows.append([label, "reference", *_cells(ref_run), ""])
    rows += [[label, "API", *_cells(results.run(f"{api}.{key}")), "—"] for key, label in extra]
    header = ("Endpoint", "Server", *_CELLS, "API / reference req/s")
    return _table(header, rows)


def _sort_runs(results: Results, sort: str) -> tuple[Summary | None, Summary | None]:
    """Page 1 and page 1,000 in `sort`: the default sort's are the long list's own."""
    if sort == "-created_at":
        return results.run("big.page1"), results.run("big.page1000")
    name = sort_name(sort)
    return results.run(f"{name}.page1"), results.run(f"{name}.page1000")


def _sorts_table(results: Results, config: Config) -> list[str]:
    rows = []
    for sort in USER_SORTS:
        first, deep = _sort_runs(results, sort)
        walk = results.walks.get(sort)
        runs = [run for run in (first, deep) if run is not None]
        rows.append(
            [
                f"`{sort}`" + (" (default)" if sort == "-created_at" else ""),
                _ms(first.p50_ms) if first else "not run",
                _ms(deep.p50_ms) if deep else "not run",
                _page_factor(first, deep, bold=True) if first and deep else "—",
                _ms(first.p99_ms) if first else "—",
                _ms(deep.p99_ms) if deep else "—",
                ", ".join(_errors(run) for run in runs) or "—",
                f"{max(run.others_cpu for run in runs):.0%}" if runs else "—",
                f"{walk / DEEP_PAGE * 1000:.1f}" if walk else "—",
            ]
        )
    header = (
        "Sort",
        "page 1 p50 ms",
        f"page {DEEP_PAGE:,} p50 ms",
        f"page {DEEP_PAGE:,} / page 1",
        "page 1 p99 ms",
        f"page {DEEP_PAGE:,} p99 ms",
        "errors",
        "CPU elsewhere",
        "walk, ms a page",
    )
    sort_runs = "run" if config.sort_repeats == 1 else "runs"
    return [
        f"### Page 1 and page {DEEP_PAGE:,} in every sort, {config.few_connections} connections",
        "",
        f"Every sort but `position` (one list's order, measured above). "
        f"`?limit=50&sort=...`; page {DEEP_PAGE:,} found by following `next_cursor` from "
        f"page 1 in that sort. The default sort as above ({config.repeats} {_runs(config)} "
        f"each); every other sort {config.sort_repeats} {sort_runs} of {config.sort_duration} s "
        "per page, page 1 and page 1,000 taking turns, without a warm-up (the walk just "
        "warmed both).",
        "",
        *_table(header, rows),
    ]


def _runs(config: Config) -> str:
    return "run" if config.repeats == 1 else "runs"


def _long_list(results: Results, config: Config) -> list[str]:
    few = config.few_connections
    deep = "big.page1000"
    rows = [
        [f"page 1 (limit=50), {few} connections", *_cells(results.run("big.page1"))],
        [f"page {DEEP_PAGE:,} via next_cursor, {few} connections", *_cells(results.run(deep))],
        ["list with count, API, 1 connection", *_cells(results.run("big.count_api"))],
        ["list with count, reference, 1 connection", *_cells(results.run("big.count_ref"))],
        ["stats, API, 1 connection", *_cells(results.run("big.stats_api"))],
        ["stats, reference, 1 connection", *_cells(results.run("big.stats_ref"))],
    ]
    lines = _table(("Measurement", *_CELLS), rows)
    first, last = results.run("big.page1"), results.run(deep)
    walk = results.walks.get("-created_at", 0.0)
    if first and last:
        lines += [
            f"Page {DEEP_PAGE:,} / page 1: {_page_factor(first, last, bold=True)} at p50, "
            f"{last.p99_ms / first.p99_ms:.2f}x at p99. Walking `next_cursor` from page 1 to "
            f"page {DEEP_PAGE:,} on one connection took {walk:.1f} s "
            f"({walk / DEEP_PAGE * 1000:.1f} ms a page).",
            "",
        ]
    stats_api, stats_ref = results.run("big.stats_api"), results.run("big.stats_ref")
    if stats_api and stats_ref:
        lines += [
            f"Stats (`GET .../todos/stats`, every count over all {BIG_USER_TODOS:,} todos, "
            f"one statement): p50 **{_ms(stats_api.p50_ms)} ms** (API), "
            f"{_ms(stats_ref.p50_ms)} ms (reference, same SQL); API / reference p50 "
            f"{stats_api.p50_ms / stats_ref.p50_ms:.2f}x.",
            "",
        ]
    return [*lines, *_sorts_table(results, config)]


def _growth_requests() -> list[tuple[str, str]]:
    """The growth phase's requests: (key suffix, label), in the order they ran."""
    requests = [("get_one", "GET one, 64 connections")]
    for sort in USER_SORTS:
        requests.append((f"{sort_name(sort)}.page1", f"page 1, sort={sort}"))
        requests.append((f"{sort_name(sort)}.page1000", f"page {DEEP_PAGE:,}, sort={sort}"))
    return requests


def _growth_sizes(results: Results) -> list[int]:
    return sorted({int(key.split(".")[1]) for key in results.runs if key.startswith("growth.")})


def _growth_factors(results: Results, request: str) -> list[tuple[int, Summary, float]]:
    """(size, summary, p50 over the smallest size's p50) for every size above the smallest."""
    sizes = _growth_sizes(results)
    smallest = results.run(growth_key(sizes[0], request)) if sizes else None
    factors = []
    for size in sizes[1:]:
        run = results.run(growth_key(size, request))
        if smallest is not None and run is not None and smallest.p50_ms:
            factors.append((size, run, run.p50_ms / smallest.p50_ms))
    return factors


def _growth(results: Results, config: Config) -> list[str]:
    sizes = _growth_sizes(results)
    if not sizes:
        return [
            "Not run: `BENCH_LONG=1 make bench` (or `--long`) runs it at 100,000, 1,000,000 "
            "and 10,000,000 todos, `--only growth` at 100,000 and 1,000,000.",
            "",
        ]
    rows = []
    for request, label in _growth_requests():
        smallest = results.run(growth_key(sizes[0], request))
        for size in sizes:
            run = results.run(growth_key(size, request))
            if run is None or smallest is None:
                rows.append([label, f"{size:,}", *_cells(run), "—", "—"])
                continue
            factor = run.p50_ms / smallest.p50_ms if smallest.p50_ms else 0.0
            text = f"{factor:.2f}x"
            if factor > GROWTH_FACTOR:
                text = f"**{text}**"
            rps = f"{smallest.rps / run.rps:.2f}x" if run.rps else "—"
            rows.append([label, f"{size:,}", *_cells(run), text, rps])
    header = (
        "Request",
        "todos",
        *_CELLS,
        "p50 / smallest size's",
        "smallest size's req/s / this",
    )
    seeding = [
        f"- {step.size:,}: {step.rows:,} rows by COPY in {step.copy_seconds:.1f} s "
        f"({step.rows_per_second:,.0f} rows/s), then VACUUM (ANALYZE) in "
        f"{step.vacuum_seconds:.1f} s"
        for step in results.growth_seed
    ]
    runs = "run" if config.sort_repeats == 1 else "runs"
    lines = [
        "A database of its own (bench/growth.py), filled by `COPY` in steps: at each size the "
        f"table holds that many todos of ordinary users (1,000 each) plus the user with "
        f"{BIG_USER_TODOS:,}, whose todos are the same at every size. GET one picks from "
        f"{ID_SAMPLE:,} todos sampled over the whole table; page {DEEP_PAGE:,} is the path "
        "found at the smallest size by following `next_cursor`, the same position at every "
        f"size. API only; each measurement warmed up for {config.warmup} s, then "
        f"{config.sort_repeats} {runs} of {config.sort_duration} s; pages at "
        f"{config.few_connections} connections. The verdict compares p50s: at a fixed number "
        "of busy connections req/s is the reciprocal of the mean latency (Little's law), so "
        "either says the same, and the p50 is the cost a client sees, less moved than req/s "
        "by a few disturbed seconds of a run. The sizes ran one after the other, not in "
        "turns, so drift between them counts against the larger sizes.",
        "",
        *_table(header, rows),
        "Seeding (ordinary users' todos added at each size):",
        "",
        *seeding,
        "",
    ]
    if results.growth_seed and max(sizes) < GROWTH_PROJECTED:
        last = max(results.growth_seed, key=lambda step: step.rows)
        seconds = GROWTH_PROJECTED * (last.copy_seconds + last.vacuum_seconds) / last.rows
        lines += [
            f"At the largest step's rate, {GROWTH_PROJECTED:,} todos would take about "
            f"{seconds / 60:.0f} min to seed (a lower bound: index maintenance slows as the "
            "indexes outgrow memory).",
            "",
        ]
    return lines


def _growth_targets(results: Results) -> list[Target]:
    sizes = _growth_sizes(results)
    if len(sizes) < 2:
        goal = f"as the table grows, each request's p50 within {GROWTH_FACTOR}x the smallest size's"
        measured = "one size only" if sizes else "not run (BENCH_LONG=1)"
        return [Target(goal, measured, None)]
    targets = []
    for request, label in _growth_requests():
        goal = f"{label}: p50 at {sizes[-1]:,} todos within {GROWTH_FACTOR}x of {sizes[0]:,}"
        factors = _growth_factors(results, request)
        if len(factors) != len(sizes) - 1:
            targets.append(Target(goal, "not run", None))
            continue
        measured = ", ".join(f"{factor:.2f}x at {size:,}" for size, _, factor in factors)
        smallest = results.run(growth_key(sizes[0], request))
        met = all(factor <= GROWTH_FACTOR for _, _, factor in factors)
        disturbed = _disturbed(smallest, *(run for _, run, _ in factors))
        targets.append(Target(goal, measured, met, disturbed))
    return targets


def _ratio_targets(results: Results, goals: dict[str, float], why: str = "") -> list[Target]:
    targets = []
    labels = dict(SINGLE_SHARED) | dict(API_ONLY)
    for key, goal in goals.items():
        label = labels[key]
        goal_text = f"{label}: API >= {goal} x reference req/s{why}"
        api, ref = results.run(f"api.{key}"), results.run(f"ref.{key}")
        ratio = _ratio(api, ref)
        if ratio is None or api is None or ref is None:
            targets.append(Target(goal_text, "not run", None))
            continue
        measured = (
            f"{_ratio_text(api, ref, ratio, bold=False)}: {api.rps:,.0f} / {ref.rps:,.0f} req/s"
        )
        disturbed = _disturbed(api, ref)
        targets.append(Target(goal_text, measured, ratio >= goal, disturbed))
    return targets


_LATENCY_CHECKS = (
    ("api.get_one", "GET one", SINGLE_P99_MS),
    ("api.create", "create", SINGLE_P99_MS),
    ("api.patch", "PATCH", SINGLE_P99_MS),
    ("api.delete", "DELETE", SINGLE_P99_MS),
    ("api_pool8.get_one", "GET one, pool of 8 for 64 clients (no cliff)", SINGLE_P99_MS),
    ("api.list50", "list 50", LIST_P99_MS),
    ("api.mix", "mix (holds lists, so the list bound)", LIST_P99_MS),
)


def _feature_targets(results: Results) -> list[Target]:
    targets = []
    for key, other, goal, label, paired in FEATURE_TARGETS:
        run, base = results.run(key), results.run(other)
        ratio = _ratio(run, base)
        if ratio is None or run is None or base is None:
            targets.append(Target(label, "not run", None))
            continue
        text = _ratio_text(run, base, ratio, bold=False) if paired else f"{ratio:.2f}"
        measured = f"{text}: {run.rps:,.0f} / {base.rps:,.0f} req/s"
        met = ratio >= goal and run.errors == 0
        if run.errors:
            measured += f", {run.errors} errors"
        targets.append(Target(label, measured, met, _disturbed(run, base)))
    return targets


def _run_rps_ratio(x: WrkResult, y: WrkResult) -> float:
    return x.rps / y.rps if y.rps else 0.0


def _run_cpu_ratio(x: WrkResult, y: WrkResult) -> float:
    return (x.server_cpu_us or 0.0) / y.server_cpu_us if y.server_cpu_us else 0.0


def _on_off(prefix: str, results: Results) -> tuple[Summary | None, Summary | None]:
    """A settings pair's runs as (on, off)."""
    changed, base = (results.run(key) for key in settings_keys(prefix))
    default_is_on = next(on for key, _label, on in SETTINGS_PAIRS if key == prefix)
    return (base, changed) if default_is_on else (changed, base)


def _settings_table(results: Results) -> list[str]:
    """Each settings pair: the server with the setting changed, its twin at the defaults,
    and the median of their paired ratios."""
    rows = []
    for prefix, label, _default_is_on in SETTINGS_PAIRS:
        changed, base = (results.run(key) for key in settings_keys(prefix))
        on, off = _on_off(prefix, results)
        rps, cpu = _paired_median(on, off), _paired_median(on, off, cpu=True)
        pairs = _paired(on, off, _run_rps_ratio) if on and off else []
        rps_cell = "—" if rps is None else f"**{rps:.3f}**" + _spread(pairs, lambda v: f"{v:.2f}")
        cpu_cell = "—" if cpu is None else f"{cpu:.3f}x"
        rows.append([label, *_cells(changed), rps_cell, cpu_cell])
        rows.append(["  the defaults, at the same time", *_cells(base), "", ""])
    header = ("API settings", *_CELLS, "on / off req/s", "on / off server CPU per request")
    return _table(header, rows)


def _paired_median(a: Summary | None, b: Summary | None, cpu: bool = False) -> float | None:
    """The median over the repeats of a's run i over b's run i (req/s, or with `cpu` the
    server CPU per request): each pair ran at the same moments."""
    if a is None or b is None:
        return None
    values = _paired(a, b, _run_cpu_ratio if cpu else _run_rps_ratio)
    return statistics.median(values) if values else None


def _settings_targets(results: Results) -> list[Target]:
    """A setting's cost as the median of the paired req/s ratios over the repeats; the
    server CPU per request and the control (two servers at the same settings) alongside,
    to show how much of it is noise."""
    control_on, control_off = _on_off("opt_control", results)
    control = _paired_median(control_on, control_off)
    targets = []
    for prefix, floor, goal in SETTINGS_TARGETS:
        label = f"{goal}: median paired req/s on / off >= {floor:.2f}"
        on, off = _on_off(prefix, results)
        rps, cpu = _paired_median(on, off), _paired_median(on, off, cpu=True)
        if on is None or off is None or rps is None:
            targets.append(Target(label, "not run", None))
            continue
        measured = f"{rps:.3f}" + _spread(_paired(on, off, _run_rps_ratio), lambda v: f"{v:.2f}")
        measured += f": {on.rps:,.0f} / {off.rps:,.0f} req/s (medians)"
        if cpu is not None:
            measured += f"; server CPU per request {cpu:.3f}x"
        if control is not None:
            measured += f"; the control (same settings on both): {control:.3f}"
        errors = on.errors + off.errors
        if errors:
            measured += f", {errors} errors"
        targets.append(Target(label, measured, rps >= floor and not errors, _disturbed(on, off)))
    return targets


def _get_one_budget(results: Results) -> list[str]:
    """GET one on the API, the FastAPI floor and the reference, and what the server CPU
    per request says about the ratio target."""
    api, floor, ref = (results.run(f"{name}.get_one") for name in ("api", "floor", "ref"))
    rows = [
        ["API (`todo-api serve`, defaults)", *_cells(api)],
        ["FastAPI floor (bench/reference/fastapi_floor.py)", *_cells(floor)],
        ["reference (Starlette)", *_cells(ref)],
    ]
    lines = [
        "The same statement and bytes three ways, taking turns: the API; the FastAPI floor, "
        "GET one as a bare FastAPI route with the API's parameters (path user id, UUID todo "
        "id, optional `If-None-Match`) and the reference's handler, with no middleware; and "
        "the reference.",
        "",
        *_table(("Server", *_CELLS), rows),
    ]
    cpus = [run.server_cpu_us if run else None for run in (api, floor, ref)]
    if api is None or floor is None or ref is None or None in cpus:
        return lines
    a, f, r = (value or 0.0 for value in cpus)
    goal = RATIO_TARGETS["get_one"]
    lines += [
        f"- Server CPU per request: reference {r:.0f} µs, floor {f:.0f} µs (FastAPI's own "
        f"request path: +{f - r:.0f} µs), API {a:.0f} µs (the API's own code around it: "
        f"+{a - f:.0f} µs).",
        f"- req/s: floor / reference {floor.rps / ref.rps:.2f}, API / reference "
        f"{api.rps / ref.rps:.2f}. Were the server's CPU the only limit, the ratios would "
        f"be {r / f:.2f} and {r / a:.2f}.",
        f"- {goal} of the reference needs the API at about {r / goal:.0f} µs a request "
        f"({r:.0f} / {goal}), {a - r / goal:.0f} µs less than now; FastAPI's request path "
        f"alone takes {f - r:.0f} µs of the {r / goal - r:.0f} µs that budget leaves above "
        "the reference.",
        "",
    ]
    return lines


def _ratio_misses(results: Results) -> list[str]:
    """For each ratio target missed: the server CPU per request of both, and how much the
    API would have to shed."""
    lines = []
    labels = dict(SINGLE_SHARED) | dict(API_ONLY)
    for key, goal in RATIO_TARGETS.items():
        api, ref = results.run(f"api.{key}"), results.run(f"ref.{key}")
        ratio = _ratio(api, ref)
        if ratio is None or ratio >= goal or api is None or ref is None:
            continue
        if api.server_cpu_us is None or ref.server_cpu_us is None:
            continue
        a, r = api.server_cpu_us, ref.server_cpu_us
        lines.append(
            f"- {labels[key]}: {ratio:.2f} for {goal}. Server CPU per request: API {a:,.0f} "
            f"µs, reference {r:,.0f} µs ({r / a:.2f}). At {goal} the API could spend about "
            f"{r / goal:,.0f} µs: {a - r / goal:,.0f} µs less."
        )
    if lines:
        lines = ["Why the ratio targets above are missed, from this run's numbers:", "", *lines, ""]
    return lines


def subset_summary(results: Results) -> list[str]:
    """What a run of `--only` measured, for the terminal: every measurement's medians,
    the API / reference ratios and the targets that it covers."""
    rows = []
    for key in results.runs:
        run = results.run(key)
        if run is not None:
            statuses = ", ".join(f"{code}: {n:,}" for code, n in run.statuses.items())
            rows.append([key, *_cells(run), statuses])
    lines = ["", *_table(("Measurement", *_CELLS, "statuses"), rows)]
    for key, label in SINGLE_SHARED:
        api, ref = results.run(f"api.{key}"), results.run(f"ref.{key}")
        ratio = _ratio(api, ref)
        if ratio is not None and api is not None and ref is not None:
            lines.append(f"- {label}: API / reference {_ratio_text(api, ref, ratio, bold=False)}")
    lines += _serving_ratios(results)
    targets = _feature_targets(results) + _settings_targets(results) + _growth_targets(results)
    for target in targets:
        if target.met is not None:
            verdict = "met" if target.met else "NOT met"
            lines.append(f"- {target.goal}: {target.measured}: {verdict}")
    lines += [
        f"- growth seeding, {step.size:,}: {step.rows:,} rows by COPY in {step.copy_seconds:.1f} s"
        f" ({step.rows_per_second:,.0f} rows/s), VACUUM (ANALYZE) {step.vacuum_seconds:.1f} s"
        for step in results.growth_seed
    ]
    return [*lines, *(f"- {note}" for note in results.notes)]


def _serving_ratios(results: Results) -> list[str]:
    """The `serving` phase's servers over its one-worker reference, endpoint by endpoint."""
    lines = []
    for key, label in SINGLE_SHARED:
        ref = results.run(f"serve_ref.{key}")
        for prefix in ("serve_uv1", "serve_uv2", "serve_gr1", "serve_gr2"):
            run = results.run(f"{prefix}.{key}")
            ratio = _ratio(run, ref)
            if ratio is not None and run is not None and ref is not None:
                lines.append(
                    f"- {label}: {prefix} / serve_ref {_ratio_text(run, ref, ratio, bold=False)}"
                )
    return lines


def _latency_targets(results: Results) -> list[Target]:
    targets = []
    for key, label, limit in _LATENCY_CHECKS:
        run = results.run(key)
        goal = f"{label}: p99 <= {limit:.0f} ms, zero errors"
        if run is None:
            targets.append(Target(goal, "not run", None))
            continue
        measured = f"{_p99_text(run)}, {run.errors} errors"
        reference = results.run(key.replace("api.", "ref.", 1))
        if key.startswith("api.") and reference is not None:
            measured += f"; reference: {_p99_text(reference)}"
        met = run.p99_ms <= limit and run.errors == 0
        targets.append(Target(goal, measured, met, _disturbed(run)))
    return targets


def _other_targets(results: Results) -> list[Target]:
    targets = []
    for sort in USER_SORTS:
        first, deep = _sort_runs(results, sort)
        goal = f"page {DEEP_PAGE:,} within {DEEP_PAGE_FACTOR}x page 1 (p50), sort={sort}"
        if first and deep:
            factor = deep.p50_ms / first.p50_ms
            measured = (
                f"{_page_factor(first, deep, bold=False)}: "
                f"{_ms(deep.p50_ms)} vs {_ms(first.p50_ms)} ms"
            )
            met = factor <= DEEP_PAGE_FACTOR
            targets.append(Target(goal, measured, met, _disturbed(first, deep)))
        else:
            targets.append(Target(goal, "not run", None))
    stats_api, stats_ref = results.run("big.stats_api"), results.run("big.stats_ref")
    goal = f"stats for the user with {BIG_USER_TODOS:,} todos, 1 connection: the figure"
    if stats_api:
        measured = f"p50 {_ms(stats_api.p50_ms)} ms, p99 {_ms(stats_api.p99_ms)} ms" + (
            f"; reference (same SQL): p50 {_ms(stats_ref.p50_ms)} ms" if stats_ref else ""
        )
        targets.append(
            Target(goal, measured, None, _disturbed(stats_api), verdict="reported (no bound set)")
        )
    else:
        targets.append(Target(goal, "not run", None))
    goal = f"peak RSS < {RSS_LIMIT_MB:.0f} MB (largest worker, every configuration)"
    if results.rss:
        name, peak = max(results.rss.items(), key=lambda item: item[1].hwm_kb)
        measured = f"{_mb(peak):.0f} MB ({name})"
        targets.append(Target(goal, measured, _mb(peak) < RSS_LIMIT_MB))
    else:
        targets.append(Target(goal, "not run", None))
    return targets


def _tail_shape(run: Summary, connections: int) -> float:
    """p99 over the mean latency. wrk keeps every connection busy, so the mean latency is
    connections / req/s (Little's law), whatever the server does."""
    return run.p99_ms / (connections * 1000 / run.rps)


def _latency_misses(results: Results, connections: int) -> list[str]:
    """For each p99 target missed at the full connection count: whether the tail is long,
    or the mean itself is too high for the bound, computed from this run's numbers."""
    lines = []
    baseline = results.run("api.get_one")
    for key, label, limit in _LATENCY_CHECKS:
        run = results.run(key)
        if run is None or run.p99_ms <= limit or key.startswith("api_pool8"):
            continue
        mean = connections * 1000 / run.rps
        shape = _tail_shape(run, connections)
        needed = connections * 1000 * shape / limit
        compared = (
            f" (GET one: {_tail_shape(baseline, connections):.1f}x)"
            if baseline is not None and key != "api.get_one"
            else ""
        )
        lines.append(
            f"- {label}: {connections} connections / {run.rps:,.0f} req/s = {_ms(mean)} ms "
            f"mean latency; the p99 is {shape:.1f}x the mean{compared}. At that shape a p99 "
            f"of {limit:.0f} ms needs about {needed:,.0f} req/s."
        )
    if lines:
        lines = [
            "Why the p99 targets above are missed, from this run's numbers:",
            "",
            *lines,
            "",
            "specs/decisions/0009-performance.md says where the time of a request goes.",
            "",
        ]
    return lines


def _targets(results: Results, connections: int) -> list[str]:
    targets = (
        _ratio_targets(results, RATIO_TARGETS)
        + _ratio_targets(results, RATIO_FLOORS, " (no lower than before the planning fields)")
        + _latency_targets(results)
        + _other_targets(results)
        + _feature_targets(results)
        + _settings_targets(results)
        + _growth_targets(results)
    )
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    rows = [
        [
            t.goal,
            t.measured,
            (t.verdict or verdict[t.met]) + (" (disturbed run)" if t.disturbed else ""),
        ]
        for t in targets
    ]
    met = sum(t.met is True for t in targets)
    bounded = sum(t.verdict is None for t in targets)
    disturbed = sum(t.disturbed for t in targets)
    lines = [
        *_table(("Target", "Measured", "Result"), rows),
        f"**{met} of {bounded} targets met.** Ratios and latencies are for one worker "
        "each at the API's default settings.",
    ]
    if disturbed:
        lines.append(
            f"{disturbed} verdicts rest on runs that other processes disturbed (more than "
            f"{NOISY:.0%} of the CPU elsewhere); confirm them on a quiet machine."
        )
    return [*lines, "", *_ratio_misses(results), *_latency_misses(results, connections)]


def _numbers(numbers: list[int]) -> str:
    """Which runs: [2] -> "run 2", [1, 3] -> "runs 1 and 3", [1, 2, 3] -> "runs 1, 2 and 3"."""
    words = [str(n) for n in numbers]
    if len(words) == 1:
        return f"run {words[0]}"
    return f"runs {', '.join(words[:-1])} and {words[-1]}"


def _notes(results: Results) -> list[str]:
    lines = []
    total = sum(len(runs) for runs in results.runs.values())
    # Per measurement, the numbers of its disturbed runs: one name each keeps it readable
    # when a busy machine disturbs most of them.
    disturbed = {
        key: [n for n, run in enumerate(runs, 1) if run.others_cpu > NOISY]
        for key, runs in results.runs.items()
    }
    disturbed = {key: numbers for key, numbers in disturbed.items() if numbers}
    if disturbed:
        count = sum(len(numbers) for numbers in disturbed.values())
        worst = max(run.others_cpu for runs in results.runs.values() for run in runs)
        names = ", ".join(
            f"`{key}`" if len(results.repeats(key)) == 1 else f"`{key}` ({_numbers(ns)})"
            for key, ns in disturbed.items()
        )
        lines.append(
            f"- Other processes on the machine used more than {NOISY:.0%} of its CPU time "
            f"during {count} of {total} runs (up to {worst:.0%}): {names}. Their numbers "
            "are lower and noisier than on a quiet machine; rerun when it is idle before "
            "comparing."
        )
    for key in results.runs:
        summary = results.run(key)
        if summary is None or not summary.errors:
            continue
        line = f"- `{key}`: {_errors(summary)} of {summary.requests:,} requests"
        if len(summary.repeats) > 1:
            per_run = ", ".join(str(run.errors) for run in summary.repeats)
            line += f" over {len(summary.repeats)} runs ({per_run})"
        lines.append(line + ".")
    lines += [f"- {note}" for note in results.notes]
    for name, count in results.log_lines.items():
        if count:
            lines.append(
                f"- Server log `bench/out/logs/{name}.log` has {count} lines "
                "(LOG_LEVEL=warning, so each is a warning or an error)."
            )
    return ["## Errors and warnings", "", *(lines or ["None."]), ""]


def _repeats_line(config: Config) -> str:
    if config.repeats == 1:
        return (
            "- Each number is from a single run (BENCH_REPEATS=1): the next run may differ "
            "by more than a target's margin."
        )
    return (
        f"- Each req/s, p50 and p99 is the median of {config.repeats} runs, API and reference "
        "taking turns (req/s: the run with the median req/s; p50 and p99: each the median "
        "of the runs' own). In brackets, the lowest and highest over the runs; for a ratio, "
        "of API run i over reference run i."
    )


def render(results: Results, config: Config, command: str, date: str, elapsed: float) -> str:
    """The whole of RESULTS.md."""
    minutes, seconds = divmod(round(elapsed), 60)
    lines = [
        "# Benchmark results",
        "",
        f"`{command}` on {date}, {minutes} min {seconds} s in all. Written by `make bench`; "
        "see bench/README.md for what each number means.",
        "",
        "## Machine",
        "",
        *_table(("", ""), results.machine.items()),
        "wrk, the servers and PostgreSQL all share these CPUs, so absolute numbers are lower "
        "than on dedicated hardware; the API / reference ratios are what carries over.",
        "",
        "## Setup",
        "",
        f"- Dataset: {USERS:,} users with {TODOS_PER_USER} todos each, plus one user with "
        f"{BIG_USER_TODOS:,}; wrk picks targets from {ID_SAMPLE:,} sampled ids. Each of "
        f"the {USERS:,} has {len(USER_LISTS)} lists ({', '.join(USER_LISTS)}: 60, 20 and 10 "
        f"of their todos, 10 in no list); the long list's user has {BIG_USER_LISTS} "
        "projects holding 9 in 10 of its todos.",
        f"- Each run: {config.duration} s measured, the first run of each measurement after "
        f"{config.warmup} s of warm-up (discarded); {config.connections} connections over "
        f"{config.threads} wrk threads unless stated.",
        _repeats_line(config),
        "- Errors: answers with status >= 400 plus socket errors (connect, read, write, "
        "timeout at 10 s), summed over the runs.",
        "- CPU elsewhere: the share of the machine's CPU time that processes other than the "
        "bench, wrk, the servers and the embedded PostgreSQL used during a run, the largest "
        f"over the runs; in bold above {NOISY:.0%}, where a run was disturbed.",
        "- API: `todo-api serve`, default settings, LOG_LEVEL=warning. Reference: "
        f"bench/reference (Starlette, asyncpg pool of {config.reference_pool}, orjson).",
        "",
        "## One worker each, 64 connections",
        "",
        f"The filtered and sorted list is `{FILTERED_QUERY}` for a random user; the bulk "
        f"create sends {BULK_SIZE} todos with every field, for users of its own. The list "
        f"in position order is `?list_id=...&sort=position&limit=50` of a random user's "
        f"{MOVED_LIST} list (60 todos); the move is `POST .../todos/{{todo_id}}/move` with "
        '`{"list_id": ..., "after": ...}`, a random todo of such a list placed just after '
        "another of the same list, run after the listing; the reference sends the API's "
        "statements in the API's order (the list's ownership, then one transaction).",
        "",
        *_comparison(results, "api", "ref", SINGLE_SHARED, API_ONLY),
        "## Where GET one's time goes",
        "",
        *_get_one_budget(results),
        "## Connection pool smaller than the clients",
        "",
        *_table(
            ("API settings", *_CELLS),
            [
                ["defaults, GET one", *_cells(results.run("api.get_one"))],
                [
                    "DB_POOL_SIZE=8, GET one",
                    *_cells(results.run("api_pool8.get_one")),
                ],
            ],
        ),
        "## Settings on and off, GET one on the same API",
        "",
        f"Pairs of `todo-api serve`, {config.settings_repeats} repeats: the API with one "
        "setting changed and the API at its defaults, loaded at the same moments (half the "
        "connections each), so a slower spell of the shared machine slows both alike. The "
        "settings: AUTH_JWT_SECRET (each request with a valid HS256 token of the path's "
        "user, one token per user), METRICS_ENABLED=false, and nothing (the control: what "
        "two identical servers differ by). Each repeat starts every server afresh and warms "
        "it up; the verdicts take the median over the repeats of the paired ratios.",
        "",
        *_settings_table(results),
        "## Two workers each (WEB_CONCURRENCY=2, uvicorn --workers 2)",
        "",
        *_comparison(results, "api2", "ref2", SHARED, ()),
        f"## The user with {BIG_USER_TODOS:,} todos",
        "",
        *_long_list(results, config),
        "## As the table grows",
        "",
        *_growth(results, config),
        "## Memory of the API under load",
        "",
        *_table(
            ("Configuration", "peak RSS (VmHWM), MB", "largest VmRSS polled, MB"),
            [
                [name, f"{_mb(peak):.0f}", f"{peak.rss_kb * 1024 / 1e6:.0f}"]
                for name, peak in results.rss.items()
            ],
        ),
        *_notes(results),
        "## Against the targets",
        "",
        *_targets(results, config.connections),
    ]
    return "\n".join(lines)
