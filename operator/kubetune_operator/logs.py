"""Structured logs: one JSON object per line on stderr, for the cluster's log pipeline.

Fields: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, the ``extra=`` fields a call passes
(``namespace``, ``experiment``, ...) and ``exception`` with the traceback. Configured by the ``kubetune operator``
command at start-up, never on import.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        entry = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(*, level: int = logging.INFO) -> None:
    """Route every log record to stderr as JSON (replacing handlers configured before)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
