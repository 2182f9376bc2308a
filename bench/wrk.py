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
    # CPU seconds the server's processes used during the run (None: not measured). Unlike
    # req/s, it does not depend on how the scheduler shares two CPUs between the server,
    # wrk and PostgreSQL, so it compares two servers' cost more steadily.
    server_cpu_seconds: float | None = None

    @property
    def server_cpu_us(self) -> float | None:
        """The server's CPU time per answered request, in microseconds."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds * 1e6 / self.requests

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Answers with status >= 400 (wrk's count; a 304 is not one) plus connect,
        read, write and timeout errors."""
        return self.status_errors + self.socket_errors

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {
            "rps": self.rps,
            "errors": self.errors,
            "server_cpu_us": self.server_cpu_us,
        }


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


def _parse(
    output: str, connections: int, others_cpu: float, server_cpu_seconds: float | None
) -> WrkResult:
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
        server_cpu_seconds=server_cpu_seconds,
    )


@dataclass(frozen=True, slots=True)
class Load:
    """One of the loads `run_together` applies at once: a name (its output file), the
    script and its arguments, and the server's URL and processes."""

    name: str
    script: str
    url: str
    args: tuple[str | Path, ...] = ()
    server_pids: tuple[int, ...] = ()


def _command(config: Config, load: Load, connections: int, seconds: int) -> list[str]:
    return [
        wrk_path(),
        f"-t{min(config.threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={_TIMEOUT}",
        "-s",
        str(LUA_DIR / load.script),
        load.url,
        "--",
        *(str(arg) for arg in load.args),
    ]


def run_together(
    config: Config, loads: tuple[Load, ...], *, connections: int, seconds: int
) -> list[WrkResult]:
    """One wrk per load, all started at once and running for the same `seconds`, each with
    `connections`: every server sees the same machine at the same moments, so a slower
    spell of a shared host slows all of them alike instead of whichever ran then. Outputs
    are kept as bench/out/wrk/NAME.txt."""
    before = cpu.snapshot()
    servers_before = [cpu.process_seconds(load.server_pids) for load in loads]
    commands = [_command(config, load, connections, seconds) for load in loads]
    processes = [
        subprocess.Popen(  # noqa: S603  (our own fixed arguments)
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for command in commands
    ]
    outputs = [process.communicate(timeout=seconds + 60)[0] for process in processes]
    servers_after = [cpu.process_seconds(load.server_pids) for load in loads]
    others_cpu = cpu.others_share(before, cpu.snapshot())
    results = []
    for load, command, process, output, start, end in zip(
        loads, commands, processes, outputs, servers_before, servers_after, strict=True
    ):
        config.path("wrk", f"{load.name}.txt").write_text(" ".join(command) + "\n\n" + output)
        if process.returncode != 0:
            raise WrkFailed(f"wrk exited with {process.returncode}:\n{output[-2000:]}")
        used = end - start if start is not None and end is not None and load.server_pids else None
        results.append(_parse(output, connections, others_cpu, used))
    return results


def run_wrk(
    config: Config,
    name: str,
    *,
    script: str,
    url: str,
    args: tuple[str | Path, ...] = (),
    connections: int,
    seconds: int,
    server_pids: tuple[int, ...] = (),
) -> WrkResult:
    """One wrk run of `seconds`; its output is kept as bench/out/wrk/NAME.txt. With
    `server_pids`, also the CPU time those processes used meanwhile."""
    command = _command(config, Load(name, script, url, args), connections, seconds)
    before = cpu.snapshot()
    server_before = cpu.process_seconds(server_pids)
    completed = subprocess.run(  # noqa: S603  (our own fixed arguments)
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    server_after = cpu.process_seconds(server_pids)
    others_cpu = cpu.others_share(before, cpu.snapshot())
    server_cpu = (
        server_after - server_before
        if server_pids and server_before is not None and server_after is not None
        else None
    )
    output = completed.stdout + completed.stderr
    config.path("wrk", f"{name}.txt").write_text(" ".join(command) + "\n\n" + output)
    if completed.returncode != 0:
        raise WrkFailed(f"wrk exited with {completed.returncode}:\n{output[-2000:]}")
    return _parse(output, connections, others_cpu, server_cpu)


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
    server_pids: tuple[int, ...] = (),
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
        server_pids=server_pids,
    )
