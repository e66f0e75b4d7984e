"""Log lines that carry the current request id: JSON objects (production) or readable text (a terminal)."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One object per line: time, level, logger, message, request_id, extras."""

    def __init__(self, *args, **kwargs):
        super().__init__("%(message)s", *args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record.setdefault("request_id", getattr(record, "request_id", None) or request_id_var.get())
        # Keep the reading order stable: time, level, logger first.
        for key in ("time", "level", "logger"):
            log_record[key] = log_record.pop(key)


# The attributes every LogRecord has: anything else on a record is an "extra" worth showing.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "taskName"}
FORMATS = ("json", "console")


def process_label() -> str:
    """Which process wrote a line: TRACEPOINT_PROCESS (set per process by ``make run``), else the pid."""
    return os.environ.get("TRACEPOINT_PROCESS") or f"pid {os.getpid()}"


class ConsoleFormatter(logging.Formatter):
    """One readable line for a person at a terminal (``LOG_FORMAT=console``, the default of ``make run``):
    ``05:41:03.120 web     INFO     GET /incidents/ 200 in 12 ms  · tracepoint.request req=ab12… status=200``.
    Time (local), process, level, message, then the logger, request id and extras, then any traceback."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.label = process_label()

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.") + f"{int(record.msecs):03d}"
        details = [record.name]
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            details.append(f"req={request_id}")
        details += [f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD]
        line = f"{moment} {self.label:<7} {record.levelname:<8} {record.getMessage()}  · {' '.join(details)}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def formatter_config(log_format: str) -> dict:
    """The ``formatters`` entry of a logging dictConfig for ``log_format`` (json or console)."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be json or console, got {log_format!r}")
    factory = JsonFormatter if log_format == "json" else ConsoleFormatter
    return {"()": f"{factory.__module__}.{factory.__qualname__}"}
