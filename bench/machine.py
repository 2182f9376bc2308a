"""What the numbers were measured on and with, for the top of RESULTS.md.

Results from different machines, or from different versions of the code, are not
comparable; the description makes that visible instead of leaving it to memory.
"""

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from bench.config import REPO_DIR
from bench.wrk import wrk_version

_PACKAGES = ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn", "uvloop")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603  (our own fixed arguments)
            ["git", *args],  # noqa: S607  (git from PATH, like a developer's shell)
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "backend", "pyproject.toml")
    return f"{commit} + uncommitted changes in backend/" if dirty else commit


def describe(postgres_version: str, embedded: bool) -> dict[str, str]:
    """The machine and software, as label -> value."""
    where = "embedded, Unix socket" if embedded else "BENCH_DATABASE_URL"
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": _cpu_model(),
        "Memory": _memory(),
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "PostgreSQL": f"{postgres_version} ({where})",
        "wrk": wrk_version(),
        "Packages": ", ".join(f"{name} {_version(name)}" for name in _PACKAGES),
        "Code": _git(),
    }
