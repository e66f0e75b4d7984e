"""Network probes: active checks (HTTP(S), TCP) run concurrently on asyncio, with SSRF protection at connect time.

Targets are resolved by us and every address is vetted before the socket is
opened (``GuardedBackend``, shared with every other outbound connection in
``tracepoint.outbound``), so a name that resolves to a private address at
check time (DNS rebinding) is refused even if it looked public when saved.
The TLS handshake still verifies the certificate against the original name.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpcore
from django.conf import settings

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
    host: str = ""
    port: int | None = None
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
            host=monitor.host,
            port=monitor.port,
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


async def run_checks(specs: list[CheckSpec], *, concurrency: int = 50) -> dict[int, CheckResult]:
    """Run every check at once (bounded); a hanging target only ever costs its own timeout."""
    limit = asyncio.Semaphore(concurrency)
    backend = GuardedBackend()
    context = ssl.create_default_context()
    async with httpcore.AsyncConnectionPool(
        ssl_context=context, network_backend=backend, max_connections=concurrency, keepalive_expiry=0
    ) as pool:

        async def one(spec: CheckSpec) -> tuple[int, CheckResult]:
            async with limit:
                try:
                    runner = check_http(spec, pool) if spec.kind == "http" else check_tcp(spec, backend)
                    return spec.id, await asyncio.wait_for(runner, spec.timeout_seconds)
                except TimeoutError:
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, f"timed out after {spec.timeout_seconds:g} s")
                except TargetRefused as exc:
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, f"refused: {exc}")
                except Exception as exc:  # one broken check must not take the batch down
                    return spec.id, CheckResult(MonitorStatus.DOWN, None, _describe(exc))

        return dict(await asyncio.gather(*(one(spec) for spec in specs)))


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
    return _with_latency(spec, CheckResult(MonitorStatus.UP, latency))


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
            async for chunk in response.aiter_stream():
                content += chunk
                if len(content) >= settings.TRACEPOINT["MONITOR_RESPONSE_MAX_BYTES"]:
                    break
            latency = round((time.perf_counter() - started) * 1000)
            days_left = _certificate_days_left(response)
            return _evaluate(spec, response.status, bytes(content), latency, days_left)
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


def _evaluate(spec: CheckSpec, code: int, content: bytes, latency: int, days_left: float | None) -> CheckResult:
    if not any(low <= code <= high for low, high in parse_statuses(spec.expected_statuses)):
        return CheckResult(MonitorStatus.DOWN, latency, f"HTTP {code} (expected {spec.expected_statuses})", code)
    if spec.keyword:
        found = spec.keyword.encode() in content
        if spec.keyword_absent and found:
            return CheckResult(MonitorStatus.DOWN, latency, f"keyword {spec.keyword!r} is present", code)
        if not spec.keyword_absent and not found:
            return CheckResult(MonitorStatus.DOWN, latency, f"keyword {spec.keyword!r} not found", code)
    if days_left is not None and days_left <= spec.tls_expiry_days:
        return CheckResult(
            MonitorStatus.DEGRADED, latency, f"the TLS certificate expires in {max(0, int(days_left))} days", code
        )
    return _with_latency(spec, CheckResult(MonitorStatus.UP, latency, "", code))


def _with_latency(spec: CheckSpec, result: CheckResult) -> CheckResult:
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
        )
    return result
