"""Domain expiry monitors against a local HTTP server that serves both IANA-style RDAP bootstrap files and
an RDAP registry (and a registrar it links to); TRACEPOINT["RDAP_BOOTSTRAP_URL"] points at it."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from monitors import probes, rdap
from monitors.probes import CheckSpec

NOW = datetime.now(tz=UTC)


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
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/rdap/") and server.delay:
                    time.sleep(server.delay)
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
            "/bootstrap/dns.json": [[["test", "example"], [f"{self.base}/rdap/"]], [["net"], other]],
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


def test_a_registry_that_does_not_answer_in_time_is_down_within_the_timeout(server):
    server.domains["shop.test"] = rdap_domain("shop.test", expires=NOW + timedelta(days=100))
    server.delay = 3
    started = time.monotonic()
    result = check("shop.test", timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert result.status == "down"
    assert result.error.startswith(f"{server.base}/rdap/domain/shop.test did not answer: "), result.error


def test_a_tld_without_an_rdap_server_is_down_saying_so(server):
    result = check("shop.nowhere")
    assert (result.status, result.error) == ("down", "no RDAP server is known for .nowhere domains")


def test_an_unreachable_bootstrap_is_down_naming_it(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RDAP_BOOTSTRAP_URL": f"{server.base}/missing/"}
    result = check("shop.test")
    assert result.status == "down"
    assert result.error == f"cannot load the RDAP bootstrap: {server.base}/missing/asn.json answered 404"


def test_rdap_servers_on_private_addresses_are_refused_unless_allowed(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    result = check("shop.test")
    assert result.status == "down"
    assert result.error == "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address"
    assert server.requests == []


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
