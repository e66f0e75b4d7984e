"""Absolute links to this installation, for emails, webhooks, feeds, DSNs and API fields.

Only this module reads ``TRACEPOINT["BASE_URL"]`` (tests/test_settings_limits.py checks it), so every
link is joined the same way: no double slash, whatever the operator's trailing slash.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def base_url() -> str:
    """The public address of this installation without a trailing slash, e.g. ``https://tp.example.com``."""
    return settings.TRACEPOINT["BASE_URL"].rstrip("/")


def ingest_base_url() -> str:
    """Where SDKs send events, the address in DSNs: the ingest service's (``TRACEPOINT_INGEST_URL``) when it
    has its own, else ``base_url()``."""
    return settings.TRACEPOINT["INGEST_BASE_URL"] or base_url()


def absolute_url(path_or_name: str, *args, **kwargs) -> str:
    """``BASE_URL`` joined with a path (``"/incidents/3/"``, ``"ping/x"``) or a URL name (``"incidents:detail"``).

    A string with a ``/`` (or an empty one) is a path; anything else is reversed with ``args``/``kwargs``.
    """
    if "/" in path_or_name or not path_or_name:
        if args or kwargs:
            raise TypeError("absolute_url() takes args/kwargs only with a URL name, not with a path")
        path = path_or_name
    else:
        path = reverse(path_or_name, args=args or None, kwargs=kwargs or None)
    return base_url() + "/" + path.lstrip("/")
