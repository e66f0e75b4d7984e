"""Domain expiry monitors against a local HTTP server that serves both IANA-style RDAP bootstrap files and
an RDAP registry (and a registrar it links to); TRACEPOINT["RDAP_BOOTSTRAP_URL"] points at it.

A lookup that fails is inconclusive (PENDING): it changes nothing until lookups have failed for over a day."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.utils import timezone

from monitors import kinds, probes, rdap, scheduler
from monitors.models import LatencyRollup, Monitor, MonitorKind, MonitorStatus, ProbeLocation, StatusPeriod
from monitors.probes import CheckResult, CheckSpec
from tests.factories import make_monitor
from tests.helpers import run_async

NOW = datetime.now(tz=UTC)
PENDING = MonitorStatus.PENDING


def rdap_domain(name: str, *, expires: datetime | None, registrar: str = "Example Registrar", links=()) -> dict:
    events = [{"eventAction": "registration", "eventDate": "2015-03-01T12:00:00Z"}]
    if expires is not None:
        events.append({"eventAction": "expiration", "eventDate": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return {
        "objectClassName": "domain",
        "handle": name.upper().replace(".", "-"),
        "ldhName": name,
        "events": events,
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "9999",
                "roles": ["registrar"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", registrar]]],
            }
        ],
        "links": list(links),
    }


class RdapServer:
    """/bootstrap/*.json (IANA's five files, .test served here) and /rdap/domain/<name> (the registry)."""

    def __init__(self) -> None:
        self.domains: dict[str, dict] = {}
        self.registrar: dict[str, dict] = {}
        self.requests: list[str] = []
        self.delay = 0.0
        self.statuses: dict[str, int] = {}  # path → an HTTP status answered instead
        self.bodies: dict[str, bytes] = {}  # path → a body answered as is
        self.trickle: dict[str, float] = {}  # path → seconds between the bytes of its answer
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/rdap/") and server.delay:
                    time.sleep(server.delay)
                if self.path in server.statuses:
                    self.send_response(server.statuses[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path in server.trickle:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(1000):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(server.trickle[self.path])
                    except OSError:
                        pass  # the client gave up: as it should
                    return
                if self.path in server.bodies:
                    body = server.bodies[self.path]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                found = server.answer(self.path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(found).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.bootstrap_url = f"{self.base}/bootstrap/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str) -> dict | None:
        other = ["https://rdap.example.net/"]
        bootstrap = {
            "/bootstrap/dns.json": [
                [["test", "example"], [f"{self.base}/rdap/"]],
                # A registry whose name never resolves (see ``hanging_resolver``).
                [["hang"], [f"http://rdap.hang.invalid:{self.httpd.server_port}/rdap/"]],
                [["net"], other],
            ],
            "/bootstrap/asn.json": [[["64496-64511"], other]],
            "/bootstrap/ipv4.json": [[["192.0.2.0/24"], other]],
            "/bootstrap/ipv6.json": [[["2001:db8::/32"], other]],
            "/bootstrap/object-tags.json": [[["iana@example.net"], ["TEST"], other]],
        }
        if path in bootstrap:
            return {"version": "1.0", "publication": "2026-01-01T00:00:00Z", "services": bootstrap[path]}
        if path.startswith("/rdap/domain/"):
            return self.domains.get(path.removeprefix("/rdap/domain/"))
        if path.startswith("/registrar/domain/"):
            return self.registrar.get(path.removeprefix("/registrar/domain/"))
        return None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings, monkeypatch):
    found = RdapServer()
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": True,
        "RDAP_BOOTSTRAP_URL": found.bootstrap_url,
    }
    monkeypatch.setattr(rdap, "_loaded", None)  # this process's parsed copy belongs to another server
    monkeypatch.setattr(rdap, "_failed", None)
    cache.delete(rdap._cache_key(found.bootstrap_url))
    yield found
    cache.delete(rdap._cache_key(found.bootstrap_url))
    found.close()


def check(domain: str, **fields) -> probes.CheckResult:
    spec = CheckSpec(id=1, kind="domain", host=domain, timeout_seconds=fields.pop("timeout", 3.0), **fields)
    return probes.check_all([spec])[1]


def test_a_domain_far_from_expiry_is_up_with_its_dates_and_registrar(server):
    expires = NOW + timedelta(days=200, hours=2)
    server.domains["shop.test"] = rdap_domain("shop.test", expires=expires)
    result = check("Shop.Test.", domain_expiry_days=30)
    assert result.status == "up", result.error
    assert result.details == {
        "domain": "shop.test",
        "registrar": "Example Registrar",
        "rdap_server": f"{server.base}/rdap/domain/shop.test",
        "registered_at": "2015-03-01T12:00:00+00:00",
        "expires_at": expires.replace(microsecond=0).isoformat(),
        "days_left": 200,
    }
    # The five bootstrap files, then the registry: nothing else.
    assert sorted(server.requests) == sorted(
        ["/bootstrap/asn.json", "/bootstrap/dns.json", "/bootstrap/ipv4.json", "/bootstrap/ipv6.json",
         "/bootstrap/object-tags.json", "/rdap/domain/shop.test"]
    )  # fmt: skip


def test_a_domain_expiring_within_the_warning_days_is_degraded(server):
    expires = NOW + timedelta(days=10, hours=2)
    server.domains["shop.test"] = rdap_domain("shop.test", expires=expires)
    result = check("shop.test", domain_expiry_days=30)
    assert (result.status, result.error) == ("degraded", f"shop.test expires in 10 days (on {expires:%Y-%m-%d})")
    assert result.details["days_left"] == 10


def test_an_expired_domain_is_down(server):
    expires = NOW - timedelta(days=2)
    server.domains["shop.test"] = rdap_domain("shop.test", expires=expires)
    result = check("shop.test")
    assert (result.status, result.error) == ("down", f"shop.test expired on {expires:%Y-%m-%d}")


def test_a_domain_the_registry_does_not_know_is_down(server):
    result = check("nobody.test")
    assert (result.status, result.error) == ("down", "nobody.test is not registered (the registry has no record of it)")


def test_a_registry_without_an_expiry_date_is_degraded_saying_the_check_cannot_warn(server):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=None)
    result = check("shop.test")
    assert result.status == "degraded"
    assert result.error == "the registry publishes no expiry date for shop.test: nothing to warn about"


def test_the_registrars_rdap_server_adds_to_the_registrys_answer(server):
    link = {"rel": "related", "href": f"{server.base}/registrar/domain/shop.test", "type": "application/rdap+json"}
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100), links=[link])
    later = NOW + timedelta(days=400)
    server.registrar["shop.test"] = rdap_domain("shop.test", expires=later, registrar="Retail Registrar")
    result = check("shop.test")
    assert result.status == "up"
    assert result.details["expires_at"][:10] == later.date().isoformat()
    assert "/registrar/domain/shop.test" in server.requests


def test_the_bootstrap_is_downloaded_once_and_shared_through_the_cache(server, monkeypatch):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    server.domains["blog.example"] = rdap_domain("blog.example", expires=NOW + timedelta(days=100))
    assert check("shop.test").status == "up"
    monkeypatch.setattr(rdap, "_loaded", None)  # another worker process: it reads the cache
    assert check("blog.example").status == "up"
    assert server.requests.count("/bootstrap/dns.json") == 1


def test_judging_expiry_dates():
    spec = CheckSpec(id=1, kind="domain", host="example.com", domain_expiry_days=30)
    now = datetime(2026, 5, 1, tzinfo=UTC)
    parsed = {"expiration_date": datetime(2026, 5, 31, 12, 0), "entities": {"registrar": [{"handle": "292"}]}}
    soon = rdap.judge(spec, parsed, server="https://rdap.example/", now=now)
    assert (soon.status, soon.error) == ("degraded", "example.com expires in 30 days (on 2026-05-31)")
    assert soon.details["registrar"] == "292" and soon.details["expires_at"] == "2026-05-31T12:00:00+00:00"
    later = rdap.judge(spec, parsed, server="https://rdap.example/", now=now - timedelta(days=2))
    assert later.status == "up"
    assert rdap.normalise_domain(" Bücher.Example. ") == "xn--bcher-kva.example"


def test_the_registrars_answer_that_cannot_be_read_with_the_registrys_leaves_the_registrys(server):
    link = {"rel": "related", "href": f"{server.base}/registrar/domain/shop.test", "type": "application/rdap+json"}
    expires = NOW + timedelta(days=100, hours=2)
    server.domains["shop.test"] = rdap_domain("shop.test", expires=expires, links=[link])
    server.registrar["shop.test"] = {"objectClassName": "domain", "events": [{"eventAction": ["renewal"]}]}
    result = check("shop.test")
    assert (result.status, result.details["days_left"]) == ("up", 100), result.error
    assert "/registrar/domain/shop.test" in server.requests


def test_odd_links_in_the_registrys_answer_are_passed_over(server):
    later = NOW + timedelta(days=400, hours=2)
    server.registrar["shop.test"] = rdap_domain("shop.test", expires=later, registrar="Retail Registrar")
    for links in (
        None,
        "https://registrar.example/",
        [None, "x", {"rel": "related", "href": None}, {"rel": "related", "href": "", "type": None}],
        [{"rel": "related", "href": f"{server.base}/registrar/domain/shop.test", "type": 5}],
    ):
        answer = rdap_domain("shop.test", expires=NOW + timedelta(days=100, hours=2))
        answer["links"] = links
        server.domains["shop.test"] = answer
        result = check("shop.test")
        assert result.status == "up", (links, result.error)
    assert result.details["days_left"] == 400  # the last one is followed: a type that is not a string is not HTML


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"<html>busy</html>", "{url} did not answer JSON"),
        (b"[1, 2]", "{url} did not answer an RDAP object"),
        (b'{"objectClassName": 7}', "unexpected RDAP answer from {url}: "),
        (b'{"objectClassName": "domain", "events": "soon"}', "unexpected RDAP answer from {url}: "),
        (b'{"objectClassName": "domain", "events": [{"eventAction": null}]}', "unexpected RDAP answer from {url}: "),
        (b'{"objectClassName": "domain", "links": [{"rel": ["self"], "href": "/x"}]}',
         "unexpected RDAP answer from {url}: "),
        (b'{"objectClassName": "domain", "events": [{"eventAction": "expiration", "eventDate": "never"}]}',
         "unexpected RDAP answer from {url}: "),
    ],
)  # fmt: skip
def test_an_answer_of_an_unexpected_shape_is_inconclusive_never_an_error(server, answer, error):
    server.bodies["/rdap/domain/shop.test"] = answer
    result = check("shop.test")
    url = f"{server.base}/rdap/domain/shop.test"
    assert result.status == PENDING
    assert result.error.startswith(error.format(url=url)), result.error
    assert result.details == {"domain": "shop.test"}


def test_a_registry_that_does_not_answer_in_time_is_inconclusive_within_the_timeout(server):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    server.delay = 3
    started = time.monotonic()
    result = check("shop.test", timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert result.status == PENDING
    assert result.error.startswith(f"{server.base}/rdap/domain/shop.test did not answer: "), result.error


def test_a_registry_that_rate_limits_is_inconclusive(server):
    server.statuses["/rdap/domain/shop.test"] = 429
    result = check("shop.test")
    assert (result.status, result.error) == (PENDING, f"{server.base}/rdap/domain/shop.test answered HTTP 429")


def test_a_registry_trickling_its_answer_is_cut_off_at_the_deadline(server):
    server.trickle["/rdap/domain/shop.test"] = 0.05  # a byte every 50 ms: no single read ever times out
    started = time.monotonic()
    result = check("shop.test", timeout=1.0)
    elapsed = time.monotonic() - started
    url = f"{server.base}/rdap/domain/shop.test"
    assert (result.status, result.error) == (PENDING, f"{url} did not finish its answer in time")
    assert elapsed < 1.5


@pytest.fixture
def hanging_resolver(monkeypatch):
    """The system resolver does not answer for rdap.hang.invalid until ``.set()``: a name lookup has no timeout."""
    release = threading.Event()
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "rdap.hang.invalid":
            release.wait(30)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_a_lookup_stuck_resolving_a_name_does_not_hold_up_its_batch(server, hanging_resolver):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    stuck = CheckSpec(id=1, kind="domain", host="stuck.hang", timeout_seconds=1.0)
    fine = CheckSpec(id=2, kind="domain", host="shop.test", timeout_seconds=1.0)
    started = time.monotonic()
    results = probes.check_all([stuck, fine])
    # Its thread is still resolving: the batch (asyncio.run) does not wait for it.
    assert time.monotonic() - started < 1.5
    assert (results[1].status, results[1].error) == (PENDING, "the RDAP lookup did not finish within 1 s")
    assert results[2].status == "up", results[2].error


def test_the_timeout_runs_from_when_the_lookup_starts_not_while_it_waits_for_a_thread(server, hanging_resolver):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    assert check("shop.test").status == "up"  # the bootstrap is loaded
    stuck = CheckSpec(id=1, kind="domain", host="stuck.hang", timeout_seconds=0.5)
    queued = CheckSpec(id=2, kind="domain", host="shop.test", timeout_seconds=1.0)
    threading.Timer(1.5, hanging_resolver.set).start()  # the stuck lookups free their threads then

    async def batch() -> list[CheckResult]:
        held = [rdap.check_domain(stuck) for _ in range(rdap.LOOKUP_THREADS)]
        return await asyncio.gather(*held, rdap.check_domain(queued))

    started = time.monotonic()
    *held, result = run_async(batch())
    assert {item.status for item in held} == {PENDING}
    assert result.status == "up", result.error  # waited 1.5 s for a thread, then had its own second
    assert time.monotonic() - started >= 1.4


def test_through_check_all_too_the_timeout_runs_from_when_the_lookup_starts(server, hanging_resolver):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    assert check("shop.test").status == "up"  # the bootstrap is loaded
    stuck = [CheckSpec(id=n, kind="domain", host="stuck.hang", timeout_seconds=0.5) for n in range(rdap.LOOKUP_THREADS)]
    queued = CheckSpec(id=99, kind="domain", host="shop.test", timeout_seconds=1.0)
    threading.Timer(1.5, hanging_resolver.set).start()  # the stuck lookups free their threads then
    results = probes.check_all([*stuck, queued])
    assert results[99].status == "up", results[99].error


def test_a_lookup_waits_for_a_free_thread_only_so_long(server, hanging_resolver, monkeypatch):
    monkeypatch.setattr(rdap, "QUEUE_WAIT_SECONDS", 0.5)
    stuck = CheckSpec(id=1, kind="domain", host="stuck.hang", timeout_seconds=1.0)
    queued = CheckSpec(id=2, kind="domain", host="shop.test", timeout_seconds=1.0)

    async def batch() -> list[CheckResult]:
        held = [rdap.check_domain(stuck) for _ in range(rdap.LOOKUP_THREADS)]
        return await asyncio.gather(*held, rdap.check_domain(queued))

    *_, result = run_async(batch())
    assert (result.status, result.error) == (PENDING, "no RDAP lookup thread was free for 0.5 s")


def test_a_tld_without_an_rdap_server_is_inconclusive_saying_so(server):
    result = check("shop.nowhere")
    assert (result.status, result.error) == (PENDING, "no RDAP server is known for .nowhere domains")


def test_an_unreachable_bootstrap_is_inconclusive_naming_it_and_not_asked_again_at_once(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RDAP_BOOTSTRAP_URL": f"{server.base}/missing/"}
    first, second = check("shop.test"), check("blog.test")
    reason = f"cannot load the RDAP bootstrap: {server.base}/missing/asn.json answered 404"
    assert (first.status, first.error) == (second.status, second.error) == (PENDING, reason)
    assert server.requests == ["/missing/asn.json"]  # the second lookup went by the first one's failure


def test_rdap_servers_on_private_addresses_are_refused_unless_allowed(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    result = check("shop.test")
    assert result.status == PENDING
    assert (
        result.error == "cannot load the RDAP bootstrap: refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address"
    )
    assert server.requests == []


def test_lookups_go_on_with_the_older_bootstrap_while_another_lookup_downloads_a_new_one(server, monkeypatch):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    assert check("shop.test").status == "up"
    old = rdap._loaded
    monkeypatch.setattr(rdap, "_loaded", replace(old, loaded_at=old.loaded_at - 2 * rdap.BOOTSTRAP_MAX_AGE_SECONDS))
    server.requests.clear()
    with rdap._lock:  # another lookup is downloading
        started = time.monotonic()
        result = check("shop.test")
        assert time.monotonic() - started < 1
    assert result.status == "up" and server.requests == ["/rdap/domain/shop.test"]


def test_a_failed_refresh_of_the_bootstrap_keeps_the_older_one_in_use(server, monkeypatch):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    assert check("shop.test").status == "up"
    old = rdap._loaded
    monkeypatch.setattr(rdap, "_loaded", replace(old, loaded_at=old.loaded_at - 2 * rdap.BOOTSTRAP_MAX_AGE_SECONDS))
    cache.delete(rdap._cache_key(server.bootstrap_url))
    server.statuses["/bootstrap/asn.json"] = 503
    server.requests.clear()
    assert check("shop.test").status == "up"
    assert check("shop.test").status == "up"
    assert server.requests.count("/bootstrap/asn.json") == 1  # not asked again straight after failing


def test_without_a_bootstrap_a_lookup_waits_for_another_ones_download_only_within_its_timeout(server):
    with rdap._lock:  # another lookup is downloading, and slowly
        started = time.monotonic()
        result = check("shop.test", timeout=1.0)
        elapsed = time.monotonic() - started
    assert (result.status, result.error) == (
        PENDING,
        "the RDAP bootstrap is still being downloaded (by another lookup)",
    )
    assert 0.8 < elapsed < 1.3


# --- inconclusive lookups as the monitor records them (rdap.settle, the scheduler) ---------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_failed_lookups_keep_what_the_last_good_one_learnt_and_are_down_after_a_day():
    known = {"domain": "shop.test", "registrar": "Example Registrar", "expires_at": "2027-01-01T00:00:00+00:00"}
    good = rdap.settle(CheckResult("up", 40, "", None, known), {}, now=T0)
    assert good.details == known | {"looked_up_at": T0.isoformat()}
    failed = rdap.inconclusive("shop.test", "rdap.example answered HTTP 503")
    first = rdap.settle(failed, good.details, now=T0 + timedelta(days=1))
    assert (first.status, first.error) == (
        PENDING, "RDAP lookup failed (status kept, asked again soon): rdap.example answered HTTP 503"
    )  # fmt: skip
    assert first.details == good.details | {
        "lookup_failing_since": (T0 + timedelta(days=1)).isoformat(),
        "lookup_error": "rdap.example answered HTTP 503",
    }
    later = rdap.settle(failed, first.details, now=T0 + timedelta(days=1, hours=23))
    assert (later.status, later.details) == (PENDING, first.details)
    down = rdap.settle(failed, later.details, now=T0 + timedelta(days=2))
    assert (down.status, down.error) == (
        "down",
        "RDAP lookups have failed for over a day: rdap.example answered HTTP 503",
    )
    assert down.details == first.details  # the expiry date and the last good lookup stay on the page
    back = rdap.settle(CheckResult("up", 40, "", None, known), down.details, now=T0 + timedelta(days=2, hours=1))
    assert back.details == known | {"looked_up_at": (T0 + timedelta(days=2, hours=1)).isoformat()}


def test_what_was_learnt_of_another_domain_is_not_carried_over():
    previous = {"domain": "old.test", "expires_at": "2027-01-01T00:00:00+00:00", "lookup_failing_since": "2020-01-01"}
    result = rdap.settle(rdap.inconclusive("new.test", "timed out"), previous, now=T0)
    assert result.status == PENDING
    assert result.details == {"domain": "new.test", "lookup_failing_since": T0.isoformat(), "lookup_error": "timed out"}


def _checks_counted(monitor: Monitor) -> int:
    return sum(hour[0] for rollup in LatencyRollup.objects.filter(monitor=monitor) for hour in rollup.hours.values())


def test_a_failed_lookup_changes_nothing_and_is_asked_again_within_the_hour(server, db):
    expires = NOW + timedelta(days=200, hours=2)
    server.domains["shop.test"] = rdap_domain("shop.test", expires=expires)
    monitor = make_monitor(
        "shop.test", kind=MonitorKind.DOMAIN, url="", host="shop.test", interval_seconds=86400, timeout_seconds=3,
        next_check_at=timezone.now(),
    )  # fmt: skip
    scheduler.run_due_checks()
    monitor.refresh_from_db()
    assert monitor.status == "up" and monitor.next_check_at > timezone.now() + timedelta(hours=23)
    server.statuses["/rdap/domain/shop.test"] = 503
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())
    before = timezone.now()
    scheduler.run_due_checks()
    monitor.refresh_from_db()
    assert (monitor.status, monitor.streak_status, monitor.streak_count) == ("up", "up", 1)
    assert monitor.last_error == (
        f"RDAP lookup failed (status kept, asked again soon): {server.base}/rdap/domain/shop.test answered HTTP 503"
    )
    assert monitor.last_details["expires_at"] == expires.replace(microsecond=0).isoformat()
    assert before <= datetime.fromisoformat(monitor.last_details["lookup_failing_since"]) <= timezone.now()
    assert before + timedelta(hours=1) <= monitor.next_check_at <= timezone.now() + timedelta(hours=1)
    assert StatusPeriod.objects.filter(monitor=monitor).count() == 1 and _checks_counted(monitor) == 1


# --- the domain kind's settings -----------------------------------------------------------------------


def test_a_domain_monitor_runs_from_no_location(responder_client, client, responder):
    ProbeLocation.objects.create(name="paris")
    assert not {"locations", "quorum"} & set(kinds.KINDS[MonitorKind.DOMAIN].fields)
    body = {"name": "Our domain", "kind": "domain", "host": "example.com"}
    refused = responder_client.post("/api/v1/monitors", body | {"locations": ["paris"], "quorum": 1}, format="json")
    assert refused.status_code == 400
    assert refused.json()["details"] == {
        "locations": [
            "A domain monitor asks its registry from one place: it runs from no location (send [] or leave it out)."
        ],
        "quorum": ["A domain monitor runs from no location, so it has no quorum (send null or leave it out)."],
    }
    created = responder_client.post("/api/v1/monitors", body | {"locations": [], "quorum": None}, format="json")
    assert created.status_code == 201, created.json()
    client.force_login(responder)
    page = client.get("/monitors/new/?kind=domain").content.decode()
    assert 'name="host"' in page and 'name="locations"' not in page and "<legend>Locations</legend>" not in page
