"""TLS certificate monitors: connect to a host and port, handshake as a browser would (the chain must
verify against the trusted CAs, the name must match, SNI is the host), and watch the expiry date.

DOWN when the handshake fails (an untrusted, self-signed or expired certificate, a name mismatch: OpenSSL's
reason is kept), DEGRADED when it expires within ``tls_expiry_days``. The connection goes through the
outbound guard (``GuardedBackend``), like HTTP checks; extra CAs (a private PKI) come from
``TRACEPOINT["MONITOR_EXTRA_CA_FILE"]`` through the context ``probes.ssl_context()`` makes.
"""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime

import httpcore

from monitors.models import MonitorStatus
from monitors.probes import CheckResult, CheckSpec, GuardedBackend, with_latency

DEFAULT_PORT = 443
# OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED: said in words of our own, with the date when we can tell it.
CERT_HAS_EXPIRED = 10


def certificate_facts(certificate: dict, *, now: datetime | None = None) -> dict:
    """What the page shows of a peer certificate (``SSLSocket.getpeercert()``): JSON-ready."""
    now = now or datetime.now(tz=UTC)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), tz=UTC)
    starts = (
        datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notBefore"]), tz=UTC)
        if certificate.get("notBefore")
        else None
    )
    return {
        "subject": _name(certificate.get("subject", ())),
        "issuer": _name(certificate.get("issuer", ())),
        "not_before": starts.isoformat() if starts else None,
        "not_after": expires.isoformat(),
        "days_left": int((expires - now).total_seconds() // 86400),
        "names": [value for kind, value in certificate.get("subjectAltName", ()) if kind in ("DNS", "IP Address")][:20],
    }


def _name(rdns) -> str:
    """An X.509 name as people read it: its common name, else its organisation, else all of it."""
    parts = {key: value for rdn in rdns for key, value in rdn}
    if parts.get("commonName"):
        organisation = parts.get("organizationName")
        return f"{parts['commonName']} ({organisation})" if organisation else parts["commonName"]
    return parts.get("organizationName") or ", ".join(f"{key}={value}" for key, value in parts.items())


async def check_tls(spec: CheckSpec, backend: GuardedBackend, context: ssl.SSLContext) -> CheckResult:
    host, port = spec.host.strip().strip("[]"), spec.port or DEFAULT_PORT
    started = time.perf_counter()
    try:
        stream = await backend.connect_tcp(host, port, timeout=spec.timeout_seconds)
    except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
        return CheckResult(MonitorStatus.DOWN, None, f"cannot connect to {host}:{port}: {_reason(exc)}")
    try:
        try:
            tls = await stream.start_tls(context, server_hostname=host, timeout=spec.timeout_seconds)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            return _handshake_failed(host, port, exc)
        latency = round((time.perf_counter() - started) * 1000)
        ssl_object = tls.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        details = {"tls_version": ssl_object.version() if ssl_object is not None else None}
        await tls.aclose()
    finally:
        await stream.aclose()
    if not certificate or "notAfter" not in certificate:
        return CheckResult(MonitorStatus.DOWN, latency, f"{host}:{port} sent no certificate", None, details)
    details |= certificate_facts(certificate)
    days_left = details["days_left"]
    expires = details["not_after"][:10]
    if days_left < 0:  # verification refuses expired certificates: only a clock change gets here
        return CheckResult(MonitorStatus.DOWN, latency, f"the certificate expired on {expires}", None, details)
    if days_left <= spec.tls_expiry_days:
        error = f"the certificate expires in {days_left} day{'s' if days_left != 1 else ''} (on {expires})"
        return CheckResult(MonitorStatus.DEGRADED, latency, error, None, details)
    return with_latency(spec, CheckResult(MonitorStatus.UP, latency, "", None, details))


def _handshake_failed(host: str, port: int, exc: BaseException) -> CheckResult:
    cause = exc.__cause__ or exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or str(cause)
        if cause.verify_code == CERT_HAS_EXPIRED:
            reason = "the certificate has expired"
        return CheckResult(
            MonitorStatus.DOWN,
            None,
            f"certificate verify failed: {reason}",
            None,
            {"verify_error": reason, "verify_code": cause.verify_code},
        )
    if isinstance(exc, httpcore.ConnectTimeout):
        return CheckResult(MonitorStatus.DOWN, None, f"the TLS handshake with {host}:{port} timed out")
    return CheckResult(MonitorStatus.DOWN, None, f"TLS handshake with {host}:{port} failed: {_reason(cause)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    return (str(exc) or type(exc).__name__)[:300]
