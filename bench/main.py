"""The `make bench` entry point: check the tools, provision and seed the database, run
the phases, and write bench/RESULTS.md.

Everything started here is stopped here: servers by their phase, the embedded PostgreSQL
by the outermost `with`, on success, failure, Ctrl-C and SIGTERM alike.
"""

import argparse
import asyncio
import dataclasses
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime

from bench import cpu
from bench.config import GROWTH_LONG_SIZES, RESULTS_PATH, Config, ConfigError, parse_only
from bench.database import bench_database
from bench.machine import describe
from bench.pages import PagingFailed
from bench.report import NOISY, render, subset_summary
from bench.results import Results
from bench.sanity import SanityFailed, check_sql
from bench.scenarios import (
    SCENARIOS,
    growth,
    growth_measurement_count,
    growth_seed_seconds,
    measurement_count,
    run_count,
    serving,
    settings_measurement_count,
    settings_pairs,
    single_worker,
    small_pool,
    sort_measurement_count,
    two_workers,
    wrk_seconds,
)
from bench.seed import seed, server_version
from bench.servers import ServerFailed, migrate
from bench.wrk import WrkFailed, WrkMissing, wrk_path

_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stdout, stamped with the seconds since the start."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)  # noqa: T201


def _command() -> str:
    """How this run was started, for RESULTS.md (the database URL is not repeated)."""
    settings = [
        f"{name}={value}"
        for name, value in sorted(os.environ.items())
        if name.startswith("BENCH_") and name != "BENCH_DATABASE_URL"
    ]
    if "BENCH_DATABASE_URL" in os.environ:
        settings.append("BENCH_DATABASE_URL=...")
    runner = "make bench" if "MAKELEVEL" in os.environ else "python -m bench"
    return " ".join([*settings, runner, *sys.argv[1:]])


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, through every `with` that stops a server."""
    raise KeyboardInterrupt


def run(config: Config) -> Results:
    """Every phase, on a freshly seeded database."""
    results = Results()
    # Logs and wrk reports of an earlier run must not be mistaken for this run's.
    for stale in ("logs", "wrk"):
        shutil.rmtree(config.out_dir / stale, ignore_errors=True)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    with bench_database(config) as db:
        if db.postmaster_pid is not None:
            cpu.include(db.postmaster_pid)
        log("database ready; todo-api migrate")
        migrate(config, db.api_url)
        log("seeding the dataset")
        files = asyncio.run(seed(db.dsn, config.out_dir))
        results.machine = describe(asyncio.run(server_version(db.dsn)), db.embedded)
        log("seeded")
        for phase in (single_worker, small_pool, two_workers, settings_pairs, serving, growth):
            phase(config, results, log, db, files)
    for path in sorted((config.out_dir / "logs").glob("*.log")):
        if path.stem != "migrate":
            results.log_lines[path.stem] = len(path.read_text(errors="replace").splitlines())
    return results


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load-test the API against the reference app; writes bench/RESULTS.md.",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=(
            "run only these scenarios, comma-separated (also BENCH_ONLY), and write "
            "bench/out/RESULTS.only.md instead of bench/RESULTS.md: " + ", ".join(SCENARIOS)
        ),
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help=(
            "also the growth phase at 100,000, 1,000,000 and 10,000,000 todos (also "
            "BENCH_LONG=1; BENCH_GROWTH_SIZES overrides the sizes)"
        ),
    )
    return parser.parse_args()


def _config(only: str | None, *, long: bool = False) -> Config:
    config = Config.from_env()
    if only is not None:
        config = dataclasses.replace(config, only=parse_only(only))
    if long and not config.long:
        sizes = GROWTH_LONG_SIZES if "BENCH_GROWTH_SIZES" not in os.environ else None
        config = dataclasses.replace(config, long=True, growth_sizes=sizes or config.growth_sizes)
    unknown = sorted((config.only or frozenset()) - SCENARIOS.keys())
    if unknown:
        raise ConfigError(
            f"unknown scenario(s) {', '.join(unknown)}; the scenarios are: {', '.join(SCENARIOS)}"
        )
    return config


def main() -> None:
    arguments = _arguments()
    signal.signal(signal.SIGTERM, _interrupt)
    # Also when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        config = _config(arguments.only, long=arguments.long)
        wrk_path()
        check_sql()
    except (ConfigError, WrkMissing, SanityFailed) as error:
        sys.exit(str(error))
    estimate = wrk_seconds(config) / 60
    if config.only is not None:
        log(f"only {', '.join(name for name in SCENARIOS if name in config.only)}")
    log(
        f"{run_count(config)} runs: {measurement_count(config)} measurements x "
        f"{config.repeats} of {config.duration} s, each warmed up once for {config.warmup} s, "
        f"and {sort_measurement_count(config)} x {config.sort_repeats} of "
        f"{config.sort_duration} s (the other sorts' pages), and "
        f"{settings_measurement_count(config)} x {config.settings_repeats} warmed up each time "
        f"(settings on and off); about {estimate:.0f} min plus set-up"
    )
    if growth_measurement_count(config):
        sizes = ", ".join(f"{size:,}" for size in config.growth_sizes)
        log(
            f"growth phase at {sizes} todos: {growth_measurement_count(config)} measurements "
            f"(included above) and about {growth_seed_seconds(config) / 60:.0f} min of COPY "
            "and VACUUM (ANALYZE)"
        )
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    before = cpu.snapshot()
    time.sleep(1)
    idle_check = cpu.others_share(before, cpu.snapshot())
    if idle_check > NOISY:
        log(f"other processes are using {idle_check:.0%} of the CPU: expect noisy numbers")
    try:
        results = run(config)
    except (ServerFailed, WrkFailed, PagingFailed, SanityFailed) as error:
        sys.exit(f"bench failed: {error}")
    except KeyboardInterrupt:
        sys.exit("bench interrupted; servers and database stopped, RESULTS.md left alone")
    elapsed = time.monotonic() - _STARTED
    results.machine["CPU used by other processes at start"] = f"{idle_check:.0%}"
    results.save(config.path("results.json"))
    report = render(results, config, _command(), date, elapsed)
    if config.only is not None:
        # A subset must not replace the whole run's RESULTS.md.
        partial = config.path("RESULTS.only.md")
        partial.write_text(report)
        print("\n".join(subset_summary(results)), flush=True)  # noqa: T201
        log(f"wrote {partial.relative_to(RESULTS_PATH.parents[1])} (RESULTS.md left alone)")
        return
    RESULTS_PATH.write_text(report)
    log(f"wrote {RESULTS_PATH.relative_to(RESULTS_PATH.parents[1])}")
