"""Strict readers for settings that come from the environment.

Every reader records the name it was asked for in ``NAMES_READ`` so tests can
check that deployment files (compose, Kubernetes) only set variables the app
actually reads. A malformed value raises ``SettingError`` naming the variable;
the entry points (manage.py, wsgi, celery) turn it into one line on stderr.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

NAMES_READ: set[str] = set()

_TRUE = {"true"}
_FALSE = {"false"}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNIT_SECONDS |= {"d": 86400, "day": 86400}


class SettingError(ImproperlyConfigured):
    """A setting from the environment is missing or malformed."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


def _raw(name: str) -> str | None:
    NAMES_READ.add(name)
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingError(name, f"must be true or false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingError(name, f"must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise SettingError(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise SettingError(name, f"must be at most {maximum}, got {number}")
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value.upper() in choices:
        return value.upper()
    raise SettingError(name, f"must be one of {', '.join(choices)}, got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read ``NAME`` or, for Docker/Kubernetes secrets, the file named by ``NAME_FILE``."""
    value = _raw(name)
    file_name = _raw(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise SettingError(name, f"set either {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise SettingError(f"{name}_FILE", f"cannot read {file_name!r}: {exc.strerror}") from None
        if not value:
            raise SettingError(f"{name}_FILE", f"{file_name!r} is empty")
    return default if value is None else value


def parse_rate(text: str) -> tuple[int, int]:
    """``"100/min"`` → ``(100, 60)``; ``"5/10s"`` → ``(5, 10)``. Raises ValueError."""
    match = _RATE_RE.match(text)
    if not match:
        raise ValueError(f"expected a rate such as '100/min' or '5/10s', got {text!r}")
    count, multiplier, unit = match.groups()
    period = _UNIT_SECONDS[unit.lower()] * (int(multiplier) if multiplier else 1)
    if int(count) < 1 or period < 1:
        raise ValueError(f"rate must allow at least 1 request per period, got {text!r}")
    return int(count), period


def env_rate(name: str, default: str) -> str:
    value = _raw(name)
    if value is None:
        return default
    try:
        parse_rate(value)
    except ValueError as exc:
        raise SettingError(name, str(exc)) from None
    return value


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    value = _raw(name)
    if value is None:
        return default
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise SettingError(name, f"must be a URL starting with {allowed}; got {value.split('@')[-1]!r}")
    return value
