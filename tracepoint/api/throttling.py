from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from tracepoint import ratelimit


class WriteRateThrottle(BaseThrottle):
    """Limits unsafe methods per user (or per IP when anonymous).

    A view chooses its budget with ``throttle_scope`` (default ``"write"``),
    a key of ``TRACEPOINT["RATE_LIMITS"]``, and sets ``throttle_fail_closed = True``
    when the limit guards a secret (see ``tracepoint.ratelimit``).
    """

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        scope = getattr(view, "throttle_scope", None) or "write"
        fail_closed = getattr(view, "throttle_fail_closed", False)
        self.decision = ratelimit.hit(scope, ratelimit.request_ident(request), fail_closed=fail_closed)
        return self.decision.allowed

    def wait(self) -> float | None:
        return self.decision.retry_after
