"""JSON log lines that carry the current request id."""

from __future__ import annotations

import logging
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
