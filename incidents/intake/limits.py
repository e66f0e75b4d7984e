"""The intake's product limits, from ``settings.TRACEPOINT`` (``checks`` reports a missing one at startup)."""

from __future__ import annotations

from django.conf import settings

# Requests per integration per window, under TRACEPOINT["RATE_LIMITS"][RATE_LIMIT_SCOPE].
RATE_LIMIT_SCOPE = "intake"
# The settings this app reads, with the lines that define them in tracepoint/settings.py.
REQUIRED_SETTINGS = {
    "INTAKE_MAX_BYTES": '"INTAKE_MAX_BYTES": env_int("INTAKE_MAX_BYTES", 2 * 1024 * 1024, minimum=1024),',
    "INTAKE_PAYLOAD_KEPT_BYTES": (
        '"INTAKE_PAYLOAD_KEPT_BYTES": env_int("INTAKE_PAYLOAD_KEPT_BYTES", 64 * 1024, minimum=0, maximum=1024 * 1024),'
    ),
}
RATE_LIMIT_SETTING = '"intake": env_rate("RATE_LIMIT_INTAKE", "600/min"),'


def max_request_bytes() -> int:
    return settings.TRACEPOINT["INTAKE_MAX_BYTES"]


def payload_kept_bytes() -> int:
    return settings.TRACEPOINT["INTAKE_PAYLOAD_KEPT_BYTES"]
