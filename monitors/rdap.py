"""Domain registration expiry through RDAP (the JSON successor of WHOIS), with whoisit.

Which server answers for a domain comes from IANA's RDAP bootstrap files (``asn.json``, ``dns.json``,
``ipv4.json``, ``ipv6.json``, ``object-tags.json``, as whoisit loads them): downloaded once a day into
the cache (every worker shares them) and kept parsed per process. ``TRACEPOINT["RDAP_BOOTSTRAP_URL"]``
points at another copy (a mirror, or a test server); when it is plain http, the servers it lists may be
too. whoisit builds the query URL and reads the answer (dates, registrar); the requests themselves go
through the outbound guard (``guarded_session``), in a thread of this module's own pool (requests is
synchronous). The registry's answer may link to the registrar's RDAP server, which is asked too: its
data overlays the registry's, as whoisit does.

A lookup that fails (a registry that times out or answers 429, an unreachable bootstrap, an answer that
cannot be read) says nothing about the domain: its result is *inconclusive* (``MonitorStatus.PENDING``),
which changes no status and no streak; the scheduler asks again soon (``scheduler.INCONCLUSIVE_RETRY``).
Only lookups failing for over a day (``settle``, from what the monitor kept in ``last_details``) are DOWN.
Expired and not registered (the registry answers 404) are conclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import requests
import urllib3
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

logger = logging.getLogger("tracepoint.monitors")

DEFAULT_BOOTSTRAP_URL = "https://data.iana.org/rdap/"
BOOTSTRAP_FILES = {
    "asn": "asn.json",
    "dns": "dns.json",
    "ipv4": "ipv4.json",
    "ipv6": "ipv6.json",
    "object": "object-tags.json",
}
BOOTSTRAP_MAX_AGE_SECONDS = 86400
# After a failed load, lookups within this long reuse its reason (or the older copy) instead of all asking IANA.
BOOTSTRAP_RETRY_SECONDS = 60
MAX_RESPONSE_BYTES = 1024 * 1024
READ_BYTES = 16 * 1024
ACCEPT = "application/rdap+json, application/json;q=0.9"
# Failed lookups this long in a row make the monitor DOWN: the registry (or the way to it) is broken.
FAILING_DOWN_AFTER = timedelta(days=1)
# Lookups at once per process: a lookup mostly waits on the network, and registries rate-limit.
LOOKUP_THREADS = 8
# The longest a lookup waits for one of those threads (each is freed within its lookup's timeout, bar a name
# resolution that hangs): past it, the batch does not wait any more.
QUEUE_WAIT_SECONDS = 60

# Not asyncio's default executor: asyncio.run() waits for that one to drain, so a lookup stuck in a thread
# (a name resolution has no timeout) would hold up the whole batch of checks. Never shut down with wait=True.
_EXECUTOR = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="rdap")


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


@dataclass(frozen=True)
class _Failure:
    url: str
    at: float
    reason: str


_loaded: _Bootstrap | None = None
_failed: _Failure | None = None
_lock = threading.Lock()


def _after_fork() -> None:
    # A forked worker gets its own threads and an unheld lock, whatever its parent was doing at the fork.
    global _EXECUTOR, _lock
    _EXECUTOR = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="rdap")
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def bootstrap_url() -> str:
    url = settings.TRACEPOINT["RDAP_BOOTSTRAP_URL"] or DEFAULT_BOOTSTRAP_URL
    return url if url.endswith("/") else url + "/"


def _cache_key(url: str) -> str:
    return "monitors:rdap-bootstrap:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _fresh(loaded: _Bootstrap | None, url: str) -> bool:
    return loaded is not None and loaded.url == url and time.monotonic() - loaded.loaded_at < BOOTSTRAP_MAX_AGE_SECONDS


def _bootstrap(deadline: float) -> _Bootstrap:
    """The parsed bootstrap of this process: from the cache, or downloaded (and cached) when missing or old.

    One thread loads it. Meanwhile the others go on with the copy they have (a day old is still good), or,
    with none, wait for the load within their own deadline. A new copy replaces the old in one assignment."""
    global _loaded, _failed
    url = bootstrap_url()
    current = _loaded if _loaded is not None and _loaded.url == url else None
    if _fresh(current, url):
        return current
    if (failed := _recent_failure(url)) is not None:
        if current is not None:
            return current
        raise RdapError(failed.reason)
    if current is not None:
        if not _lock.acquire(blocking=False):
            return current
    elif not _lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise RdapError("the RDAP bootstrap is still being downloaded (by another lookup)")
    try:
        if _fresh(_loaded, url):
            return _loaded
        if (failed := _recent_failure(url)) is not None:  # the load this one waited for failed
            if current is not None:
                return current
            raise RdapError(failed.reason)
        try:
            loaded = _load(url, deadline)
        except RdapError as exc:
            _failed = _Failure(url, time.monotonic(), str(exc))
            if current is None:
                raise
            logger.warning("could not refresh the RDAP bootstrap (the older copy stays in use): %s", exc)
            return current
        _loaded, _failed = loaded, None
        return loaded
    finally:
        _lock.release()


def _recent_failure(url: str) -> _Failure | None:
    failed = _failed
    if failed is not None and failed.url == url and time.monotonic() - failed.at < BOOTSTRAP_RETRY_SECONDS:
        return failed
    return None


def _load(url: str, deadline: float) -> _Bootstrap:
    key = _cache_key(url)
    try:
        payload = cache.get(key)
    except Exception as exc:  # the cache is a shortcut: without it, download
        logger.warning("could not read the RDAP bootstrap from the cache: %s", exc)
        payload = None
    if payload is None:
        payload = _download_bootstrap(url, deadline)
        with contextlib.suppress(Exception):
            cache.set(key, payload, BOOTSTRAP_MAX_AGE_SECONDS)
    data = BaseBootstrap()
    try:
        # overrides: whoisit's list of registries missing from IANA's files (.de, .io, .ch, …).
        data.load_bootstrap_data(payload, overrides=True, allow_insecure=url.startswith("http:"), from_json=False)
        queries = QueryBuilder(data)
    except Exception as exc:  # whoisit reads the files as it finds them: any shape it did not expect lands here
        with contextlib.suppress(Exception):
            cache.delete(key)
        raise RdapError(f"the RDAP bootstrap from {url} is not usable: {_short(exc)}") from None
    return _Bootstrap(url, time.monotonic(), data, queries)


def _download_bootstrap(url: str, deadline: float) -> dict:
    payload: dict = {"timestamp": int(time.time())}
    with guarded_session() as session:
        for name, filename in BOOTSTRAP_FILES.items():
            address = urljoin(url, filename)
            try:
                payload[name] = _get_json(session, address, deadline)
            except TargetRefused as exc:
                raise RdapError(f"cannot load the RDAP bootstrap: refused: {exc}") from None
            except RdapError as exc:
                raise RdapError(f"cannot load the RDAP bootstrap: {exc}") from None
    return payload


def _get_json(session: requests.Session, url: str, deadline: float) -> dict:
    """One RDAP (or bootstrap) document; the whole lookup shares one deadline (``time.monotonic()``).

    The deadline is checked between reads too: requests' timeout bounds each read, not the whole body, so
    a server trickling its answer would otherwise hold the lookup for as long as it likes."""
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
            # read1: what one read brings (decoded, at most READ_BYTES), not a wait for READ_BYTES more.
            while chunk := response.raw.read1(READ_BYTES, decode_content=True):
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise RdapError(f"{url} answered more than {MAX_RESPONSE_BYTES // 1024} KiB")
                if time.monotonic() > deadline:
                    raise RdapError(f"{url} did not finish its answer in time")
    except TargetRefused:
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
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
    """whoisit's reading of the registration of ``domain`` and the URL asked, within ``timeout`` seconds from
    now (so the thread ends with the check). Network I/O, synchronous. RdapError when it cannot tell."""
    # Well under the check's own bound (0.95 of the timeout, counted from a little earlier), so our reason is the
    # one kept: a trickling server is caught only at its next byte after the deadline, and a busy machine
    # adds its own delay to that.
    deadline = time.monotonic() + timeout * 0.8
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
        related = _registrar_link(raw, url)
        extra = None
        if related:
            with contextlib.suppress(RdapError, TargetRefused):
                extra = _get_json(session, related, deadline)
    if extra:
        # The registrar's answer adds to the registry's; without it, or when the two cannot be read together
        # (whoisit's merge trusts their shapes), the registry's stands.
        merged = copy.deepcopy(raw)
        with contextlib.suppress(Exception):
            recursive_merge(merged, extra)
            return _parse(bootstrap, domain, merged, url), url
    return _parse(bootstrap, domain, raw, url), url


def _registrar_link(raw: dict, url: str) -> str:
    """The registrar's RDAP URL the registry's answer links to ("" if none), read whatever shape it has."""
    links = raw.get("links")
    for link in links if isinstance(links, list) else ():
        if not isinstance(link, dict):
            continue
        rel, href, media = link.get("rel"), link.get("href"), link.get("type")
        if rel not in ("related", "registration") or not isinstance(href, str) or not href.strip():
            continue
        if isinstance(media, str) and media.startswith("text/html"):
            continue  # a web page about the domain, not RDAP
        return urljoin(url, href.strip())
    return ""


# Members that hold lists of objects (RFC 9083), which whoisit's parser walks without looking; the check does
# not judge by the second lot, so those may be dropped when they are not lists.
_JUDGED_LISTS = ("events", "entities")
_OTHER_LISTS = ("links", "notices", "remarks", "nameservers", "publicIds", "redacted")


def _tidy(raw: dict) -> dict:
    """The answer without what whoisit would trip over at its top and can be passed over: null members (as good
    as absent), what is not an object in a list of objects, and a list the check does not need that is not one.
    Anything odder (events that are not a list…) is an unexpected answer."""
    tidy = {key: value for key, value in raw.items() if value is not None}
    for key in (*_JUDGED_LISTS, *_OTHER_LISTS):
        if isinstance(tidy.get(key), list):
            tidy[key] = [item for item in tidy[key] if isinstance(item, dict)]
        elif key in tidy and key in _OTHER_LISTS:
            del tidy[key]
    return tidy


def _parse(bootstrap: _Bootstrap, domain: str, raw: dict, url: str) -> dict:
    try:
        return whoisit.parse(bootstrap.data, "domain", domain, _tidy(raw))
    except Exception as exc:  # whoisit's parser trusts the shape of what it reads: any surprise lands here
        raise RdapError(f"unexpected RDAP answer from {url}: {_short(exc)}") from None


def registrar_of(parsed: dict) -> str:
    entities = parsed.get("entities")
    registrars = entities.get("registrar") if isinstance(entities, dict) else None
    for entity in registrars if isinstance(registrars, list) else ():
        if isinstance(entity, dict) and (entity.get("name") or entity.get("handle")):
            return str(entity.get("name") or entity.get("handle"))[:200]
    return ""


def judge(spec: CheckSpec, parsed: dict, *, server: str, now: datetime | None = None) -> CheckResult:
    """DOWN once expired, DEGRADED within ``domain_expiry_days``; the dates and the registrar as details."""
    now = now or datetime.now(tz=UTC)
    domain = normalise_domain(spec.host)
    expires = parsed.get("expiration_date")
    details = {"domain": domain, "registrar": registrar_of(parsed), "rdap_server": server, "expires_at": None}
    if isinstance(parsed.get("registration_date"), datetime):
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


def inconclusive(domain: str, reason: str) -> CheckResult:
    """The lookup could not tell: no status, the reason as the error (``settle`` judges it against the past)."""
    return CheckResult(MonitorStatus.PENDING, None, reason[:400], None, {"domain": domain})


def domain_result(spec: CheckSpec) -> CheckResult:
    """The check, synchronously: never raises (a failed lookup is an inconclusive result)."""
    domain = normalise_domain(spec.host)
    started = time.perf_counter()
    try:
        parsed, server = lookup(domain, timeout=spec.timeout_seconds)
        try:
            result = judge(spec, parsed, server=server)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
            raise RdapError(f"unexpected RDAP answer from {server}: {_short(exc)}") from None
    except DomainNotFound as exc:
        return CheckResult(MonitorStatus.DOWN, None, str(exc), None, {"domain": domain})
    except TargetRefused as exc:
        return inconclusive(domain, f"refused: {exc}")
    except RdapError as exc:
        return inconclusive(domain, _short(exc, 400))
    except Exception as exc:  # a bug here must cost one inconclusive lookup, not the domain's status
        logger.exception("the RDAP lookup of %s failed unexpectedly", domain)
        return inconclusive(domain, f"the lookup failed: {_short(exc)}")
    latency = round((time.perf_counter() - started) * 1000)
    return CheckResult(result.status, latency, result.error, None, result.details)


async def check_domain(spec: CheckSpec) -> CheckResult:
    """``domain_result`` in this module's threads, so the other checks of the batch go on meanwhile.

    The check's timeout runs from the moment the lookup starts, not while it waits for a free thread. A
    lookup that overruns it (a name resolution cannot be interrupted) finishes in its thread, unwaited for."""
    domain = normalise_domain(spec.host)
    loop = asyncio.get_running_loop()
    began = loop.create_future()

    def run() -> CheckResult:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for this any more
            loop.call_soon_threadsafe(_mark_done, began)
        return domain_result(spec)

    job = asyncio.wrap_future(_EXECUTOR.submit(contextvars.copy_context().run, run), loop=loop)
    try:
        await asyncio.wait((began, job), timeout=QUEUE_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        if not began.done() and not job.done():
            return inconclusive(domain, f"no RDAP lookup thread was free for {QUEUE_WAIT_SECONDS} s")
        # A little under the timeout: should probes.run_checks bound the whole coroutine by it too, this
        # check's own reason is the one kept.
        done, _ = await asyncio.wait((job,), timeout=spec.timeout_seconds * 0.95)
    finally:
        began.cancel()
        job.cancel()  # a lookup still queued never starts; a finished one keeps its result
    if job in done:
        return job.result()
    return inconclusive(domain, f"the RDAP lookup did not finish within {spec.timeout_seconds:g} s")


def _mark_done(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def settle(result: CheckResult, previous: dict | None, *, now: datetime) -> CheckResult:
    """A domain monitor's result as it is recorded, given the monitor's ``last_details`` (``previous``).

    A conclusive one is stamped with the time of the lookup (``looked_up_at``). An inconclusive one keeps
    what the last good lookup learnt (the page still shows the expiry date) and the time the lookups started
    failing (``lookup_failing_since``): inconclusive while that is under a day, DOWN after."""
    if result.status != MonitorStatus.PENDING:
        return CheckResult(
            result.status, result.latency_ms, result.error, result.status_code, result.details | _stamp(now)
        )
    domain = result.details.get("domain")
    known = previous if isinstance(previous, dict) and previous.get("domain") == domain else {}
    since = _moment(known.get("lookup_failing_since")) or now
    details = {
        **known,
        "domain": domain,
        "lookup_failing_since": since.isoformat(),
        "lookup_error": result.error,
    }
    if now - since >= FAILING_DOWN_AFTER:
        error = f"RDAP lookups have failed for over a day: {result.error}"
        return CheckResult(MonitorStatus.DOWN, None, error[:500], None, details)
    error = f"RDAP lookup failed (status kept, asked again soon): {result.error}"
    return CheckResult(MonitorStatus.PENDING, None, error[:500], None, details)


def _stamp(now: datetime) -> dict:
    return {"looked_up_at": now.astimezone(UTC).isoformat()}


def _moment(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _short(exc: BaseException, limit: int = 300) -> str:
    return (str(exc) or type(exc).__name__)[:limit]
