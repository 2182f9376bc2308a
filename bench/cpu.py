"""How much of the machine's CPU went to processes that are not part of the bench.

On a shared 2-core machine a test suite or a browser running next to the bench takes
CPU from the servers under test, and the numbers drop without any change in the code.
Each measured run records the share of CPU time used by everything else, so a disturbed
run can be recognised as such instead of being mistaken for a regression.

Ours: the bench process and all its descendants (wrk, the servers, their workers), plus
the PostgreSQL server when it is the embedded one. Times of exited children roll up into
their parent's cutime/cstime, so short-lived processes (wrk, autovacuum) are counted too.
"""

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_roots: list[int] = [os.getpid()]


def include(pid: int) -> None:
    """Count `pid` and its descendants as ours (the embedded PostgreSQL, a daemon)."""
    _roots.append(pid)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime + cutime + cstime) in clock ticks."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    # After the command: state, ppid, ..., utime (14th field overall) is index 11 here.
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def _ours() -> int:
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], ticks[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, pending, seen = 0, list(_roots), set()
    while pending:
        pid = pending.pop()
        if pid in seen or pid not in ticks:
            continue
        seen.add(pid)
        total += ticks[pid]
        pending += children.get(pid, [])
    return total


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_seconds(pids: tuple[int, ...]) -> float | None:
    """The user and system CPU seconds `pids` have used so far (their own, not their
    children's); None when one of them is gone, so no partial sum passes for a whole."""
    total = 0
    for pid in pids:
        try:
            text = (_PROC / str(pid) / "stat").read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS_PER_SECOND


def _machine() -> tuple[int, int]:
    """(busy, total) clock ticks over all CPUs since boot."""
    values = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = values[:8]
    # Interrupt time belongs to no process; on a loopback benchmark it is mostly our own
    # traffic, so it counts as nobody's. Steal (the hypervisor's other guests) is others'.
    total = sum(values[:8])  # guest time is already inside user time
    return user + nice + system + steal, total


@dataclass(frozen=True, slots=True)
class Snapshot:
    busy: int
    total: int
    ours: int


def snapshot() -> Snapshot:
    busy, total = _machine()
    return Snapshot(busy=busy, total=total, ours=_ours())


def others_share(before: Snapshot, after: Snapshot) -> float:
    """The fraction of all CPU time between the snapshots used by processes not ours."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.ours - before.ours)
    return max(0.0, others / elapsed)
