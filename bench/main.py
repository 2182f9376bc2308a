"""The `make bench` entry point: check the tools, provision and seed the database, run
the phases, and write bench/RESULTS.md.

Everything started here is stopped here: servers by their phase, the embedded PostgreSQL
by the outermost `with`, on success, failure, Ctrl-C and SIGTERM alike.
"""

import asyncio
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime

from bench import cpu
from bench.config import RESULTS_PATH, Config, ConfigError
from bench.database import bench_database
from bench.machine import describe
from bench.pages import PagingFailed
from bench.report import NOISY, render
from bench.results import Results
from bench.sanity import SanityFailed, check_sql
from bench.scenarios import (
    MEASUREMENTS,
    SORT_MEASUREMENTS,
    run_count,
    single_worker,
    small_pool,
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
    return " ".join([*settings, runner])


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
        for phase in (single_worker, small_pool, two_workers):
            phase(config, results, log, db, files)
    for path in sorted((config.out_dir / "logs").glob("*.log")):
        if path.stem != "migrate":
            results.log_lines[path.stem] = len(path.read_text(errors="replace").splitlines())
    return results


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    # Also when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        config = Config.from_env()
        wrk_path()
        check_sql()
    except (ConfigError, WrkMissing, SanityFailed) as error:
        sys.exit(str(error))
    estimate = wrk_seconds(config) / 60
    log(
        f"{run_count(config)} runs: {MEASUREMENTS} measurements x {config.repeats} of "
        f"{config.duration} s, each warmed up once for {config.warmup} s, and "
        f"{SORT_MEASUREMENTS} x {config.sort_repeats} of {config.sort_duration} s (the other "
        f"sorts' pages); about {estimate:.0f} min plus set-up"
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
    RESULTS_PATH.write_text(render(results, config, _command(), date, elapsed))
    log(f"wrote {RESULTS_PATH.relative_to(RESULTS_PATH.parents[1])}")
