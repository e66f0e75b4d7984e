"""Domain errors raised by services and mapped to the API error shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain was broken; views map it to ``{"code", "message", ...}``."""

    code = "VALIDATION_ERROR"
    status_code = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class NotFoundError(DomainError):
    code = "NOT_FOUND"
    status_code = 404
