"""Everything one run measured, collected by `bench.scenarios` and rendered by `bench.report`."""

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.rss import RssPeak
from bench.wrk import WrkResult

# The endpoints the API and the reference both serve, in report order.
SHARED = (("get_one", "GET one"), ("list50", "list 50"), ("create", "create"))
API_ONLY = (("patch", "PATCH"), ("delete", "DELETE"), ("mix", "mix 80% read / 20% write"))


@dataclass(slots=True)
class Results:
    """Runs are keyed `<server>.<endpoint>`: server is api, ref, api_pool8, api2, ref2, big."""

    runs: dict[str, WrkResult] = field(default_factory=dict)
    rss: dict[str, RssPeak] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    walk_seconds: float = 0.0
    log_lines: dict[str, int] = field(default_factory=dict)

    def run(self, key: str) -> WrkResult | None:
        return self.runs.get(key)

    def save(self, path: Path) -> None:
        """The raw numbers, for diffing two runs."""
        document = {
            "machine": self.machine,
            "runs": {key: run.to_json() for key, run in self.runs.items()},
            "rss_kb": {key: {"hwm": p.hwm_kb, "rss": p.rss_kb} for key, p in self.rss.items()},
            "walk_seconds": self.walk_seconds,
            "notes": self.notes,
            "log_lines": self.log_lines,
        }
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
