from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

NUL = "\x00"
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed."


def _nul_path(data: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) holding NUL, or None."""
    if isinstance(data, str):
        return path if NUL in data else None
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(index), value) for index, value in enumerate(data))
    else:
        return None
    for key, value in items:
        child = f"{path}.{key}" if path else str(key)
        if NUL in child:
            return child.replace(NUL, "\\u0000")
        if (found := _nul_path(value, child)) is not None:
            return found
    return None


class NestingSafeJSONParser(JSONParser):
    """JSON, where absurdly deep nesting is a 400 instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None


class SafeJSONParser(NestingSafeJSONParser):
    """JSON, where what no endpoint can store is a 400 at the door, never a 500 later.

    - absurdly deep nesting (a RecursionError otherwise);
    - a NUL character (``\\u0000``) in any string, key or value: PostgreSQL text
      cannot store it, so every endpoint would fail on it in the database.

    Native ingest uses :class:`NestingSafeJSONParser`: it validates its own fields (NUL included)
    and keeps free-form metadata, NULs stripped, rather than refuse an application's event.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        try:
            path = _nul_path(data)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        if path is not None:
            raise ValidationError({path or "non_field_errors": [NUL_MESSAGE]})
        return data
