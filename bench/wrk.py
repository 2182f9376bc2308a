"""Running wrk and reading its result.

The Lua scripts print one `BENCH_RESULT {...}` line from wrk's `done` hook, so nothing
here scrapes wrk's human-readable table. wrk's full output is kept in bench/out/wrk/.
"""

import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from bench import cpu
from bench.config import LUA_DIR, Config

_MARKER = "BENCH_RESULT "
# Longer than the API's pool wait (5 s), so a slow answer is a latency, not a lost request.
_TIMEOUT = "10s"


class WrkMissing(RuntimeError):
    """wrk is not installed."""


class WrkFailed(RuntimeError):
    """wrk ran but produced no result line."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One measured run. Latencies are in milliseconds."""

    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status_errors: int
    socket_errors: int
    others_cpu: float
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Answers with status >= 400 (wrk's count; a 304 is not one) plus connect,
        read, write and timeout errors."""
        return self.status_errors + self.socket_errors

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"rps": self.rps, "errors": self.errors}


def wrk_path() -> str:
    """The wrk executable, or WrkMissing with the install hint."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed: sudo apt-get install wrk")
    return path


def wrk_version() -> str:
    """wrk's first output line (it prints its version with usage and exits 1)."""
    completed = subprocess.run(  # noqa: S603  (our own fixed arguments)
        [wrk_path(), "--version"], capture_output=True, text=True, check=False
    )
    first_line = (completed.stdout or completed.stderr).splitlines()[0]
    return first_line.split(" Copyright")[0].strip()


def _parse(output: str, connections: int, others_cpu: float) -> WrkResult:
    for line in output.splitlines():
        if line.startswith(_MARKER):
            raw = orjson.loads(line[len(_MARKER) :])
            break
    else:
        raise WrkFailed(f"wrk printed no result line:\n{output[-2000:]}")
    return WrkResult(
        connections=connections,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        status_errors=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        others_cpu=others_cpu,
        statuses={str(code): count for code, count in sorted(raw["statuses"].items())},
    )


def run_wrk(
    config: Config,
    name: str,
    *,
    script: str,
    url: str,
    args: tuple[str | Path, ...] = (),
    connections: int,
    seconds: int,
) -> WrkResult:
    """One wrk run of `seconds`; its output is kept as bench/out/wrk/NAME.txt."""
    threads = min(config.threads, connections)
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={_TIMEOUT}",
        "-s",
        str(LUA_DIR / script),
        url,
        "--",
        *(str(arg) for arg in args),
    ]
    before = cpu.snapshot()
    completed = subprocess.run(  # noqa: S603  (our own fixed arguments)
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    others_cpu = cpu.others_share(before, cpu.snapshot())
    output = completed.stdout + completed.stderr
    config.path("wrk", f"{name}.txt").write_text(" ".join(command) + "\n\n" + output)
    if completed.returncode != 0:
        raise WrkFailed(f"wrk exited with {completed.returncode}:\n{output[-2000:]}")
    return _parse(output, connections, others_cpu)


def measure(
    config: Config,
    name: str,
    *,
    script: str,
    url: str,
    args: tuple[str | Path, ...] = (),
    connections: int | None = None,
    warmup_args: tuple[str | Path, ...] | None = None,
    warm_up: bool = True,
    seconds: int | None = None,
) -> WrkResult:
    """A warm-up run (result discarded), then the measured run of `seconds` (by default
    BENCH_DURATION). Later repeats of the same measurement pass `warm_up=False`: the
    server is warm from the first, and warming it again would only lengthen the bench."""
    connections = connections or config.connections
    if warm_up and config.warmup:
        run_wrk(
            config,
            f"{name}.warmup",
            script=script,
            url=url,
            args=args if warmup_args is None else warmup_args,
            connections=connections,
            seconds=config.warmup,
        )
    return run_wrk(
        config,
        name,
        script=script,
        url=url,
        args=args,
        connections=connections,
        seconds=seconds or config.duration,
    )
