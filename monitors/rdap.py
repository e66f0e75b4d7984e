"""Domain registration expiry through RDAP (the JSON successor of WHOIS), with whoisit.

Which server answers for a domain comes from IANA's RDAP bootstrap files (``asn.json``, ``dns.json``,
``ipv4.json``, ``ipv6.json``, ``object-tags.json``, as whoisit loads them): downloaded once a day into
the cache (every worker shares them) and kept parsed per process. ``TRACEPOINT["RDAP_BOOTSTRAP_URL"]``
points at another copy (a mirror, or a test server); when it is plain http, the servers it lists may be
too. whoisit builds the query URL and reads the answer (dates, registrar); the requests themselves go
through the outbound guard (``guarded_session``), with the check's timeout, in a thread (requests is
synchronous). The registry's answer may link to the registrar's RDAP server, which is asked too: its
data overlays the registry's, as whoisit does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import requests
import whoisit
from django.conf import settings
from django.core.cache import cache
from whoisit.bootstrap import BaseBootstrap
from whoisit.errors import UnsupportedError, WhoisItError
from whoisit.query import QueryBuilder
from whoisit.utils import recursive_merge

from monitors.models import MonitorStatus
from monitors.probes import CheckResult, CheckSpec
from tracepoint.outbound import TargetRefused, guarded_session

DEFAULT_BOOTSTRAP_URL = "https://data.iana.org/rdap/"
BOOTSTRAP_FILES = {
    "asn": "asn.json",
    "dns": "dns.json",
    "ipv4": "ipv4.json",
    "ipv6": "ipv6.json",
    "object": "object-tags.json",
}
BOOTSTRAP_MAX_AGE_SECONDS = 86400
MAX_RESPONSE_BYTES = 1024 * 1024
ACCEPT = "application/rdap+json, application/json;q=0.9"


class RdapError(Exception):
    """The lookup failed (no server known, the server failed or answered nonsense): the reason, in words."""


class DomainNotFound(RdapError):
    """The registry has no record of the domain (HTTP 404)."""


@dataclass(frozen=True)
class _Bootstrap:
    url: str
    loaded_at: float
    data: BaseBootstrap
    queries: QueryBuilder


_loaded: _Bootstrap | None = None
_lock = threading.Lock()


def bootstrap_url() -> str:
    url = settings.TRACEPOINT["RDAP_BOOTSTRAP_URL"] or DEFAULT_BOOTSTRAP_URL
    return url if url.endswith("/") else url + "/"


def _cache_key(url: str) -> str:
    return "monitors:rdap-bootstrap:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _bootstrap(deadline: float) -> _Bootstrap:
    """The parsed bootstrap of this process: from the cache, or downloaded (and cached) when missing or old.

    A new one replaces the old in one assignment, so lookups running meanwhile never see a half-loaded one."""
    global _loaded
    url = bootstrap_url()
    current = _loaded
    if current is not None and current.url == url and time.monotonic() - current.loaded_at < BOOTSTRAP_MAX_AGE_SECONDS:
        return current
    with _lock:
        current = _loaded
        if (
            current is not None
            and current.url == url
            and time.monotonic() - current.loaded_at < BOOTSTRAP_MAX_AGE_SECONDS
        ):
            return current
        payload = cache.get(_cache_key(url))
        if payload is None:
            payload = _download_bootstrap(url, deadline)
            cache.set(_cache_key(url), payload, BOOTSTRAP_MAX_AGE_SECONDS)
        data = BaseBootstrap()
        try:
            # overrides: whoisit's list of registries missing from IANA's files (.de, .io, .ch, …).
            data.load_bootstrap_data(payload, overrides=True, allow_insecure=url.startswith("http:"), from_json=False)
        except WhoisItError as exc:
            cache.delete(_cache_key(url))
            raise RdapError(f"the RDAP bootstrap from {url} is not usable: {exc}") from None
        _loaded = _Bootstrap(url, time.monotonic(), data, QueryBuilder(data))
        return _loaded


def _download_bootstrap(url: str, deadline: float) -> dict:
    payload: dict = {"timestamp": int(time.time())}
    with guarded_session() as session:
        for name, filename in BOOTSTRAP_FILES.items():
            address = urljoin(url, filename)
            try:
                payload[name] = _get_json(session, address, deadline)
            except RdapError as exc:
                raise RdapError(f"cannot load the RDAP bootstrap: {exc}") from None
    return payload


def _get_json(session: requests.Session, url: str, deadline: float) -> dict:
    """One RDAP (or bootstrap) document; the whole lookup shares one deadline (``time.monotonic()``)."""
    timeout = deadline - time.monotonic()
    if timeout <= 0:
        raise RdapError(f"no time left to ask {url}")
    try:
        with session.get(url, headers={"Accept": ACCEPT}, timeout=timeout, stream=True) as response:
            if response.status_code == 404:
                raise DomainNotFound(f"{url} answered 404")
            if response.status_code != 200:
                raise RdapError(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise RdapError(f"{url} answered more than {MAX_RESPONSE_BYTES // 1024} KiB")
    except TargetRefused:
        raise
    except requests.RequestException as exc:
        raise RdapError(f"{url} did not answer: {_short(exc)}") from None
    try:
        found = json.loads(bytes(body))
    except ValueError:
        raise RdapError(f"{url} did not answer JSON") from None
    if not isinstance(found, dict):
        raise RdapError(f"{url} did not answer an RDAP object")
    return found


def normalise_domain(text: str) -> str:
    """A domain as RDAP servers want it: lower case, no trailing dot, international names in ASCII."""
    domain = (text or "").strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def lookup(domain: str, *, timeout: float) -> tuple[dict, str]:
    """whoisit's reading of the registration of ``domain`` and the URL asked, within ``timeout`` seconds in
    all (so the thread ends with the check). Network I/O, synchronous."""
    deadline = time.monotonic() + timeout * 0.9  # under the check's own timeout, so our reason is the one kept
    bootstrap = _bootstrap(deadline)
    try:
        _method, url, _exact = bootstrap.queries.build(query_type="domain", query_value=domain)
    except UnsupportedError:
        tld = domain.rsplit(".", 1)[-1]
        raise RdapError(f"no RDAP server is known for .{tld} domains") from None
    except WhoisItError as exc:
        raise RdapError(str(exc)) from None
    with guarded_session() as session:
        try:
            raw = _get_json(session, url, deadline)
        except DomainNotFound:
            raise DomainNotFound(f"{domain} is not registered (the registry has no record of it)") from None
        for link in raw.get("links", []):
            related = link.get("href", "") if isinstance(link, dict) else ""
            if (
                link.get("rel") in ("related", "registration")
                and related
                and not link.get("type", "").startswith("text/html")
            ):
                # The registrar's answer adds to the registry's; without it, the registry's stands.
                with contextlib.suppress(RdapError, TargetRefused):
                    recursive_merge(raw, _get_json(session, related, deadline))
                break
    try:
        return whoisit.parse(bootstrap.data, "domain", domain, raw), url
    except WhoisItError as exc:
        raise RdapError(f"{url} answered something that is not a domain: {_short(exc)}") from None


def registrar_of(parsed: dict) -> str:
    for entity in (parsed.get("entities") or {}).get("registrar", []):
        if entity.get("name") or entity.get("handle"):
            return str(entity.get("name") or entity.get("handle"))[:200]
    return ""


def judge(spec: CheckSpec, parsed: dict, *, server: str, now: datetime | None = None) -> CheckResult:
    """DOWN once expired, DEGRADED within ``domain_expiry_days``; the dates and the registrar as details."""
    now = now or datetime.now(tz=UTC)
    domain = normalise_domain(spec.host)
    expires = parsed.get("expiration_date")
    details = {"domain": domain, "registrar": registrar_of(parsed), "rdap_server": server, "expires_at": None}
    if parsed.get("registration_date"):
        details["registered_at"] = _utc(parsed["registration_date"]).isoformat()
    if not isinstance(expires, datetime):
        error = f"the registry publishes no expiry date for {domain}: nothing to warn about"
        return CheckResult(MonitorStatus.DEGRADED, None, error, None, details)
    expires = _utc(expires)
    days_left = int((expires - now).total_seconds() // 86400)
    details |= {"expires_at": expires.isoformat(), "days_left": days_left}
    if expires <= now:
        return CheckResult(MonitorStatus.DOWN, None, f"{domain} expired on {expires:%Y-%m-%d}", None, details)
    if days_left <= spec.domain_expiry_days:
        error = f"{domain} expires in {days_left} day{'s' if days_left != 1 else ''} (on {expires:%Y-%m-%d})"
        return CheckResult(MonitorStatus.DEGRADED, None, error, None, details)
    return CheckResult(MonitorStatus.UP, None, "", None, details)


def domain_result(spec: CheckSpec) -> CheckResult:
    domain = normalise_domain(spec.host)
    started = time.perf_counter()
    try:
        parsed, server = lookup(domain, timeout=spec.timeout_seconds)
    except DomainNotFound as exc:
        return CheckResult(MonitorStatus.DOWN, None, str(exc), None, {"domain": domain})
    except RdapError as exc:
        return CheckResult(MonitorStatus.DOWN, None, _short(exc, 500), None, {"domain": domain})
    result = judge(spec, parsed, server=server)
    latency = round((time.perf_counter() - started) * 1000)
    return CheckResult(result.status, latency, result.error, None, result.details)


async def check_domain(spec: CheckSpec) -> CheckResult:
    # requests is synchronous: off the event loop, so the other checks of the batch go on meanwhile.
    return await asyncio.to_thread(domain_result, spec)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _short(exc: BaseException, limit: int = 300) -> str:
    return (str(exc) or type(exc).__name__)[:limit]
