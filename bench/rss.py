"""The API's memory under load, read from /proc while wrk runs.

VmHWM is the kernel's own high-water mark of a process's resident set, so a spike between
two polls is not missed; VmRSS is polled too, to show where memory settles. With several
workers the largest worker counts, since each is a separate process with its own limit.
"""

import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.servers import Server

_POLL_SECONDS = 0.25


@dataclass(slots=True)
class RssPeak:
    """Kibibytes, the largest worker's."""

    hwm_kb: int = 0
    rss_kb: int = 0

    @property
    def hwm_mb(self) -> float:
        return self.hwm_kb / 1024

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024


def _status(pid: int) -> dict[str, int]:
    values = {}
    try:
        lines = (Path("/proc") / str(pid) / "status").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class RssMonitor:
    """Polls a server's workers in a background thread for as long as it is entered."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = RssPeak()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def sample(self) -> None:
        for pid in self.server.worker_pids():
            status = _status(pid)
            self.peak.hwm_kb = max(self.peak.hwm_kb, status.get("VmHWM", 0))
            self.peak.rss_kb = max(self.peak.rss_kb, status.get("VmRSS", 0))

    def _run(self) -> None:
        while not self._stopped.wait(_POLL_SECONDS):
            self.sample()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join()
        self.sample()  # the high-water mark as the last run left it
