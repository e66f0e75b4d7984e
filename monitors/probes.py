"""Network probes: active checks run concurrently on asyncio, with SSRF protection at connect time.

HTTP(S) and TCP live here; DNS, ping, TLS certificates and domain expiry in modules of their own
(dnscheck, pingcheck, tlscheck, rdap), JSON assertions on HTTP bodies in jsonassert. ``run_checks``
dispatches on the kind.

Targets are resolved by us and every address is vetted before the socket is
opened (``GuardedBackend``, shared with every other outbound connection in
``tracepoint.outbound``), so a name that resolves to a private address at
check time (DNS rebinding) is refused even if it looked public when saved.
The TLS handshake still verifies the certificate against the original name.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpcore
from django.conf import settings

from monitors import jsonassert
from monitors.models import MonitorStatus

# The guard lives in tracepoint.outbound; these names stay importable from here.
from tracepoint.outbound import GuardedBackend as GuardedBackend
from tracepoint.outbound import TargetRefused as TargetRefused
from tracepoint.outbound import allow_private_targets as allow_private_targets
from tracepoint.outbound import refused_reason as refused_reason
from tracepoint.outbound import validate_target as validate_target
from tracepoint.outbound import vet_addresses as vet_addresses

MAX_REDIRECTS = 5
REDIRECT_CODES = {301, 302, 303, 307, 308}
USER_AGENT = "Tracepoint-Monitor/1"


@dataclass(frozen=True)
class CheckSpec:
    """What a check needs, detached from the ORM (checks run outside transactions, on asyncio)."""

    id: int
    kind: str
    url: str = ""
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    expected_statuses: str = "200-399"
    keyword: str = ""
    keyword_absent: bool = False
    degraded_after_ms: int | None = None
    follow_redirects: bool = True
    tls_expiry_days: int = 14
    json_assertions: str = ""
    host: str = ""
    port: int | None = None
    dns_record_type: str = "A"
    dns_resolver: str = ""
    dns_expected: str = ""
    ping_count: int = 3
    max_packet_loss_percent: int = 0
    domain_expiry_days: int = 30
    timeout_seconds: float = 10.0

    @classmethod
    def of(cls, monitor) -> CheckSpec:
        return cls(
            id=monitor.pk,
            kind=monitor.kind,
            url=monitor.url,
            method=monitor.method,
            headers=tuple((str(k), str(v)) for k, v in (monitor.headers or {}).items()),
            body=monitor.body,
            expected_statuses=monitor.expected_statuses,
            keyword=monitor.keyword,
            keyword_absent=monitor.keyword_absent,
            degraded_after_ms=monitor.degraded_after_ms,
            follow_redirects=monitor.follow_redirects,
            tls_expiry_days=monitor.tls_expiry_days,
            json_assertions=monitor.json_assertions,
            host=monitor.host,
            port=monitor.port,
            dns_record_type=monitor.dns_record_type,
            dns_resolver=monitor.dns_resolver,
            dns_expected=monitor.dns_expected,
            ping_count=monitor.ping_count,
            max_packet_loss_percent=monitor.max_packet_loss_percent,
            domain_expiry_days=monitor.domain_expiry_days,
            timeout_seconds=float(monitor.timeout_seconds),
        )


@dataclass(frozen=True)
class CheckResult:
    status: str  # up, down or degraded
    latency_ms: int | None
    error: str = ""
    status_code: int | None = None
    # What the check learnt beyond up/down, kept as Monitor.last_details (JSON-ready: str, int, float, lists).
    details: dict = field(default_factory=dict)


def parse_statuses(text: str) -> list[tuple[int, int]]:
    """'200-299,301' → [(200, 299), (301, 301)]; ValueError when malformed."""
    ranges = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            low_code, high_code = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"{part!r} is not a status code or range, e.g. 200 or 200-299") from None
        if not (100 <= low_code <= high_code <= 599):
            raise ValueError(f"{part!r} is not a status code or range between 100 and 599")
        ranges.append((low_code, high_code))
    if not ranges:
        raise ValueError("at least one status code")
    return ranges


def ssl_context() -> ssl.SSLContext:
    """The verifying context of HTTPS and TLS checks: the system's CAs, plus
    ``TRACEPOINT["MONITOR_EXTRA_CA_FILE"]`` when set (a private PKI, or the test CA)."""
    context = ssl.create_default_context()
    extra = settings.TRACEPOINT["MONITOR_EXTRA_CA_FILE"]
    if extra:
        context.load_verify_locations(cafile=str(extra))
    return context


@dataclass(frozen=True)
class _Tools:
    """What the checks of one batch share."""

    pool: httpcore.AsyncConnectionPool
    backend: GuardedBackend
    context: ssl.SSLContext


def _runner(spec: CheckSpec, tools: _Tools):
    """The coroutine that checks ``spec``, by its kind."""
    # Imported here: those modules build on this one's CheckSpec and CheckResult.
    from monitors import dnscheck, pingcheck, rdap, tlscheck

    match spec.kind:
        case "http":
            return check_http(spec, tools.pool)
        case "tcp":
            return check_tcp(spec, tools.backend)
        case "dns":
            return dnscheck.check_dns(spec)
        case "ping":
            return pingcheck.check_ping(spec)
        case "tls":
            return tlscheck.check_tls(spec, tools.backend, tools.context)
        case "domain":
            return rdap.check_domain(spec)
    raise ValueError(f"no check for monitors of kind {spec.kind!r}")


async def run_checks(specs: list[CheckSpec], *, concurrency: int = 50) -> dict[int, CheckResult]:
    """Run every check at once (bounded); a hanging target only ever costs its own timeout."""
    limit = asyncio.Semaphore(concurrency)
    backend = GuardedBackend()
    context = ssl_context()
    async with httpcore.AsyncConnectionPool(
        ssl_context=context, network_backend=backend, max_connections=concurrency, keepalive_expiry=0
    ) as pool:
        tools = _Tools(pool, backend, context)

        async def one(spec: CheckSpec) -> tuple[int, CheckResult]:
            async with limit:
                # A domain check bounds itself from when its lookup starts (not while it waits for one of
                # rdap's threads), and a lookup that fails is inconclusive, not DOWN (monitors/rdap.py).
                timeout = None if spec.kind == "domain" else spec.timeout_seconds
                try:
                    return spec.id, storable(await asyncio.wait_for(_runner(spec, tools), timeout))
                except TimeoutError:
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, f"timed out after {spec.timeout_seconds:g} s")
                except TargetRefused as exc:
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, f"refused: {exc}")
                except Exception as exc:  # one broken check must not take the batch down
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, _describe(exc))

        return dict(await asyncio.gather(*(one(spec) for spec in specs)))


def storable(result: CheckResult) -> CheckResult:
    """The result with no NUL left in its texts: PostgreSQL refuses it in text and jsonb, and one such value
    (a DNS TXT record, an RDAP registrar, a certificate subject) would lose the results of the whole batch."""
    if not result.details and "\x00" not in result.error:
        return result
    return replace(result, error=result.error.replace("\x00", ""), details=_without_nul(result.details))


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def check_all(specs: list[CheckSpec], *, concurrency: int = 50) -> dict[int, CheckResult]:
    """``run_checks`` from synchronous code (a Celery task), in a thread of its own if this one runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_checks(specs, concurrency=concurrency))
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run_checks(specs, concurrency=concurrency)).result()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:500]


async def check_tcp(spec: CheckSpec, backend: GuardedBackend) -> CheckResult:
    started = time.perf_counter()
    try:
        stream = await backend.connect_tcp(spec.host, spec.port, timeout=spec.timeout_seconds)
    except TargetRefused:
        raise
    except Exception as exc:
        return CheckResult(MonitorStatus.DOWN, None, f"cannot connect to {spec.host}:{spec.port}: {_describe(exc)}")
    latency = round((time.perf_counter() - started) * 1000)
    await stream.aclose()
    return with_latency(spec, CheckResult(MonitorStatus.UP, latency))


async def check_http(spec: CheckSpec, pool: httpcore.AsyncConnectionPool) -> CheckResult:
    started = time.perf_counter()
    url, method, body = spec.url, spec.method.upper(), spec.body.encode()
    headers = [("User-Agent", USER_AGENT), *spec.headers]
    timeouts = {name: spec.timeout_seconds for name in ("connect", "read", "write", "pool")}
    for _ in range(MAX_REDIRECTS + 1):
        async with pool.stream(
            method, url, headers=headers, content=body or None, extensions={"timeout": timeouts}
        ) as response:
            location = dict((k.decode().lower(), v.decode()) for k, v in response.headers).get("location")
            if spec.follow_redirects and response.status in REDIRECT_CODES and location:
                url = urljoin(url, location)
                if response.status == 303:
                    method, body = "GET", b""
                continue
            content = bytearray()
            truncated = False
            async for chunk in response.aiter_stream():
                content += chunk
                if len(content) >= settings.TRACEPOINT["MONITOR_RESPONSE_MAX_BYTES"]:
                    truncated = True
                    break
            latency = round((time.perf_counter() - started) * 1000)
            days_left = _certificate_days_left(response)
            return _evaluate(spec, response.status, bytes(content), latency, days_left, truncated=truncated)
    return CheckResult(MonitorStatus.DOWN, None, f"more than {MAX_REDIRECTS} redirects")


def _certificate_days_left(response) -> float | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate or "notAfter" not in certificate:
        return None
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), tz=UTC)
    return (expires - datetime.now(tz=UTC)).total_seconds() / 86400


def _evaluate(
    spec: CheckSpec, code: int, content: bytes, latency: int, days_left: float | None, *, truncated: bool = False
) -> CheckResult:
    if not any(low <= code <= high for low, high in parse_statuses(spec.expected_statuses)):
        return CheckResult(MonitorStatus.DOWN, latency, f"HTTP {code} (expected {spec.expected_statuses})", code)
    if spec.keyword:
        found = spec.keyword.encode() in content
        if spec.keyword_absent and found:
            return CheckResult(MonitorStatus.DOWN, latency, f"keyword {spec.keyword!r} is present", code)
        if not spec.keyword_absent and not found:
            return CheckResult(MonitorStatus.DOWN, latency, f"keyword {spec.keyword!r} not found", code)
    details: dict = {}
    if spec.json_assertions.strip():
        failure, details = _json_assertions(spec, content, truncated=truncated)
        if failure:
            return CheckResult(MonitorStatus.DOWN, latency, failure[:500], code, details)
    if days_left is not None and days_left <= spec.tls_expiry_days:
        return CheckResult(
            MonitorStatus.DEGRADED,
            latency,
            f"the TLS certificate expires in {max(0, int(days_left))} days",
            code,
            details,
        )
    return with_latency(spec, CheckResult(MonitorStatus.UP, latency, "", code, details))


def _json_assertions(spec: CheckSpec, content: bytes, *, truncated: bool) -> tuple[str, dict]:
    """The first failure of the monitor's JSON assertions on ``content`` ("" when all pass), and each one's outcome."""
    try:
        assertions = jsonassert.parse(spec.json_assertions)
    except jsonassert.AssertionSyntaxError as exc:  # validated when saved: only an old or hand-made row gets here
        return f"the JSON assertions cannot be read: {exc}", {}
    if truncated:
        limit = settings.TRACEPOINT["MONITOR_RESPONSE_MAX_BYTES"]
        return f"the response is larger than {limit} bytes: too large to check as JSON", {}
    try:
        document = json.loads(content)
    except ValueError:
        return "the response is not JSON", {}
    outcomes = jsonassert.evaluate(assertions, document)
    details = {"json_assertions": [outcome.as_detail() for outcome in outcomes]}
    failed = next((outcome for outcome in outcomes if not outcome.passed), None)
    return (failed.message if failed else ""), details


def with_latency(spec: CheckSpec, result: CheckResult) -> CheckResult:
    """An UP result slower than ``degraded_after_ms`` is DEGRADED (its details kept)."""
    if (
        result.status == MonitorStatus.UP
        and spec.degraded_after_ms
        and (result.latency_ms or 0) > spec.degraded_after_ms
    ):
        return CheckResult(
            MonitorStatus.DEGRADED,
            result.latency_ms,
            f"slow: {result.latency_ms} ms (over {spec.degraded_after_ms} ms)",
            result.status_code,
            result.details,
        )
    return result


_with_latency = with_latency  # its older, private name
