"""How log records are written: uvicorn's text lines by default, or with LOG_FORMAT=json one
JSON object per line, for log pipelines that parse rather than grep.

A JSON record carries `time` (RFC 3339, UTC), `level`, `logger` and `message`, the
traceback as `exception` when there is one, and the request log's own fields
(`method`, `route`, `status`, `duration_ms`, `request_id`: see
`api/middleware.ResponseHeadersAndLogMiddleware`) as fields of their own, so the same
information is in both formats.
"""

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

# What the request log passes as `extra`: the fields of its logfmt line.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "request_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()
