"""bench/RESULTS.md: the numbers as Markdown tables, and the issue's targets checked
against them. Every verdict is computed here from the measurements, never typed in."""

from collections.abc import Iterable
from dataclasses import dataclass

from bench.config import BIG_USER_TODOS, DEEP_PAGE, ID_SAMPLE, TODOS_PER_USER, USERS, Config
from bench.results import API_ONLY, SHARED, Results
from bench.rss import RssPeak
from bench.wrk import WrkResult

# The targets of the performance issue.
RATIO_TARGETS = {"get_one": 0.6, "list50": 0.5, "create": 0.5}
SINGLE_P99_MS = 50.0
LIST_P99_MS = 100.0
DEEP_PAGE_FACTOR = 1.5
RSS_LIMIT_MB = 150.0
# Share of CPU time used by other processes above which a run is flagged as disturbed.
NOISY = 0.05
_CELLS = ("req/s", "p50 ms", "p99 ms", "errors", "CPU elsewhere")


@dataclass(frozen=True, slots=True)
class Target:
    goal: str
    measured: str
    met: bool | None  # None: not measured
    disturbed: bool = False  # a run behind it had other processes taking CPU


def _disturbed(*runs: WrkResult | None) -> bool:
    return any(run is not None and run.others_cpu > NOISY for run in runs)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mb(peak: RssPeak) -> float:
    return peak.hwm_kb * 1024 / 1e6


def _errors(run: WrkResult) -> str:
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


def _cells(run: WrkResult | None) -> list[str]:
    if run is None:
        return ["not run"] * 5
    others = f"**{run.others_cpu:.0%}**" if run.others_cpu > NOISY else f"{run.others_cpu:.0%}"
    return [f"{run.rps:,.0f}", _ms(run.p50_ms), _ms(run.p99_ms), _errors(run), others]


def _ratio(api: WrkResult | None, ref: WrkResult | None) -> float | None:
    if api is None or ref is None or not ref.rps:
        return None
    return api.rps / ref.rps


def _comparison(
    results: Results, api: str, ref: str, extra: tuple[tuple[str, str], ...]
) -> list[str]:
    rows = []
    for key, label in SHARED:
        api_run, ref_run = results.run(f"{api}.{key}"), results.run(f"{ref}.{key}")
        ratio = _ratio(api_run, ref_run)
        rows.append([label, "API", *_cells(api_run), "—" if ratio is None else f"**{ratio:.2f}**"])
        rows.append([label, "reference", *_cells(ref_run), ""])
    rows += [[label, "API", *_cells(results.run(f"{api}.{key}")), "—"] for key, label in extra]
    header = ("Endpoint", "Server", *_CELLS, "API / reference req/s")
    return _table(header, rows)


def _long_list(results: Results, config: Config) -> list[str]:
    few = config.few_connections
    deep = "big.page1000"
    rows = [
        [f"page 1 (limit=50), {few} connections", *_cells(results.run("big.page1"))],
        [f"page {DEEP_PAGE:,} via next_cursor, {few} connections", *_cells(results.run(deep))],
        ["list with count, API, 1 connection", *_cells(results.run("big.count_api"))],
        ["list with count, reference, 1 connection", *_cells(results.run("big.count_ref"))],
    ]
    lines = _table(("Measurement", *_CELLS), rows)
    first, last = results.run("big.page1"), results.run(deep)
    if first and last:
        lines += [
            f"Page {DEEP_PAGE:,} / page 1: **{last.p50_ms / first.p50_ms:.2f}x** at p50, "
            f"{last.p99_ms / first.p99_ms:.2f}x at p99. Walking `next_cursor` from page 1 to "
            f"page {DEEP_PAGE:,} on one connection took {results.walk_seconds:.1f} s "
            f"({results.walk_seconds / DEEP_PAGE * 1000:.1f} ms a page).",
            "",
        ]
    return lines


def _ratio_targets(results: Results) -> list[Target]:
    targets = []
    for key, label in SHARED:
        goal = RATIO_TARGETS[key]
        api, ref = results.run(f"api.{key}"), results.run(f"ref.{key}")
        ratio = _ratio(api, ref)
        if ratio is None or api is None or ref is None:
            targets.append(Target(f"{label}: API >= {goal} x reference req/s", "not run", None))
            continue
        measured = f"{ratio:.2f} ({api.rps:,.0f} / {ref.rps:,.0f} req/s)"
        disturbed = _disturbed(api, ref)
        targets.append(
            Target(f"{label}: API >= {goal} x reference req/s", measured, ratio >= goal, disturbed)
        )
    return targets


def _latency_targets(results: Results) -> list[Target]:
    checks = [
        ("api.get_one", "GET one", SINGLE_P99_MS),
        ("api.create", "create", SINGLE_P99_MS),
        ("api.patch", "PATCH", SINGLE_P99_MS),
        ("api.delete", "DELETE", SINGLE_P99_MS),
        ("api_pool8.get_one", "GET one, pool of 8 for 64 clients (no cliff)", SINGLE_P99_MS),
        ("api.list50", "list 50", LIST_P99_MS),
        ("api.mix", "mix (holds lists, so the list bound)", LIST_P99_MS),
    ]
    targets = []
    for key, label, limit in checks:
        run = results.run(key)
        goal = f"{label}: p99 <= {limit:.0f} ms, zero errors"
        if run is None:
            targets.append(Target(goal, "not run", None))
            continue
        measured = f"p99 {_ms(run.p99_ms)} ms, {run.errors} errors"
        reference = results.run(key.replace("api.", "ref.", 1))
        if key.startswith("api.") and reference is not None:
            measured += f" (reference: p99 {_ms(reference.p99_ms)} ms)"
        met = run.p99_ms <= limit and run.errors == 0
        targets.append(Target(goal, measured, met, _disturbed(run)))
    return targets


def _other_targets(results: Results) -> list[Target]:
    targets = []
    first, deep = results.run("big.page1"), results.run("big.page1000")
    goal = f"page {DEEP_PAGE:,} within {DEEP_PAGE_FACTOR}x page 1 (p50)"
    if first and deep:
        factor = deep.p50_ms / first.p50_ms
        measured = f"{factor:.2f}x ({_ms(deep.p50_ms)} vs {_ms(first.p50_ms)} ms)"
        targets.append(Target(goal, measured, factor <= DEEP_PAGE_FACTOR, _disturbed(first, deep)))
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


def _targets(results: Results) -> list[str]:
    targets = _ratio_targets(results) + _latency_targets(results) + _other_targets(results)
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    rows = [
        [t.goal, t.measured, verdict[t.met] + (" (disturbed run)" if t.disturbed else "")]
        for t in targets
    ]
    met = sum(t.met is True for t in targets)
    disturbed = sum(t.disturbed for t in targets)
    lines = [
        *_table(("Target", "Measured", "Result"), rows),
        f"**{met} of {len(targets)} targets met.** Ratios and latencies are for one worker "
        "each at the API's default settings.",
    ]
    if disturbed:
        lines.append(
            f"{disturbed} verdicts rest on runs that other processes disturbed (more than "
            f"{NOISY:.0%} of the CPU elsewhere); confirm them on a quiet machine."
        )
    return [*lines, ""]


def _notes(results: Results) -> list[str]:
    lines = []
    disturbed = [key for key, run in results.runs.items() if run.others_cpu > NOISY]
    if disturbed:
        worst = max(run.others_cpu for run in results.runs.values())
        lines.append(
            f"- Other processes on the machine used more than {NOISY:.0%} of its CPU time "
            f"during {len(disturbed)} of {len(results.runs)} runs (up to {worst:.0%}): "
            f"{', '.join(f'`{key}`' for key in disturbed)}. Their numbers are lower and "
            "noisier than on a quiet machine; rerun when it is idle before comparing."
        )
    for key, run in results.runs.items():
        if run.errors:
            lines.append(f"- `{key}`: {_errors(run)} of {run.requests:,} requests.")
    lines += [f"- {note}" for note in results.notes]
    for name, count in results.log_lines.items():
        if count:
            lines.append(
                f"- Server log `bench/out/logs/{name}.log` has {count} lines "
                "(LOG_LEVEL=warning, so each is a warning or an error)."
            )
    return ["## Errors and warnings", "", *(lines or ["None."]), ""]


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
        f"{BIG_USER_TODOS:,}; wrk picks targets from {ID_SAMPLE:,} sampled ids.",
        f"- Each run: {config.warmup} s warm-up (discarded), then {config.duration} s measured; "
        f"{config.connections} connections over {config.threads} wrk threads unless stated.",
        "- Errors: answers with status >= 400 plus socket errors (connect, read, write, "
        "timeout at 10 s).",
        "- CPU elsewhere: the share of the machine's CPU time that processes other than the "
        "bench, wrk, the servers and the embedded PostgreSQL used during the run; in bold "
        f"above {NOISY:.0%}, where the run was disturbed.",
        "- API: `todo-api serve`, default settings, LOG_LEVEL=warning. Reference: "
        f"bench/reference (Starlette, asyncpg pool of {config.reference_pool}, orjson).",
        "",
        "## One worker each, 64 connections",
        "",
        *_comparison(results, "api", "ref", API_ONLY),
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
        "## Two workers each (WEB_CONCURRENCY=2, uvicorn --workers 2)",
        "",
        *_comparison(results, "api2", "ref2", ()),
        f"## The user with {BIG_USER_TODOS:,} todos",
        "",
        *_long_list(results, config),
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
        *_targets(results),
    ]
    return "\n".join(lines)
