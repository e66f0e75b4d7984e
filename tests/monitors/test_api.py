"""``/api/v1/monitors``: CRUD with validation, ping_url, results, uptime, pause/resume, check-now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitors import services
from monitors.models import LocationResult, Monitor, MonitorStatus, ProbeLocation
from monitors.probes import CheckResult
from monitors.scheduler import claim_due, record_result
from tests.helpers import Target

URL = "/api/v1/monitors"


@pytest.fixture
def allow_private(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


def test_responders_create_http_tcp_and_heartbeat_monitors(responder_client, allow_private, settings):
    http = responder_client.post(
        URL,
        {"name": "Shop", "kind": "http", "url": "http://127.0.0.1:9/health", "keyword": "ok", "interval_seconds": 30},
        format="json",
    )
    assert http.status_code == 201, http.json()
    assert http.json()["status"] == "pending" and http.json()["ping_url"] is None
    assert Monitor.objects.get(pk=http.json()["id"]).next_check_at is not None  # due at once
    tcp = responder_client.post(URL, {"name": "DB", "kind": "tcp", "host": "127.0.0.1", "port": 5432}, format="json")
    assert tcp.status_code == 201, tcp.json()
    beat = responder_client.post(
        URL,
        {"name": "Backup", "kind": "heartbeat", "schedule_kind": "cron", "cron": "0 3 * * *", "tz": "Europe/Paris"},
        format="json",
    )
    assert beat.status_code == 201, beat.json()
    key = Monitor.objects.get(pk=beat.json()["id"]).ping_key
    assert beat.json()["ping_url"] == f"{settings.TRACEPOINT['BASE_URL'].rstrip('/')}/ping/{key}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "http", "url": "ftp://example.com/"}, "url"),
        ({"kind": "http", "url": "https://example.com/", "interval_seconds": 5}, "interval_seconds"),
        ({"kind": "http", "url": "https://example.com/", "timeout_seconds": 90}, "timeout_seconds"),
        ({"kind": "http", "url": "https://example.com/", "expected_statuses": "2xx"}, "expected_statuses"),
        ({"kind": "tcp", "host": "example.com", "port": 70000}, "port"),
        ({"kind": "heartbeat", "schedule_kind": "cron", "cron": "every day"}, "cron"),
        ({"kind": "heartbeat", "tz": "Mars/Olympus"}, "tz"),
        ({"kind": "heartbeat", "period_seconds": 10}, "period_seconds"),
    ],
)
def test_bad_settings_are_400_naming_the_field(responder_client, body, field):
    response = responder_client.post(URL, {"name": "x", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_private_targets_are_refused_when_saving(responder_client, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    for body in (
        {"kind": "http", "url": "http://169.254.169.254/latest/meta-data/"},
        {"kind": "http", "url": "http://localhost:8000/"},
        {"kind": "tcp", "host": "10.0.0.5", "port": 6379},
    ):
        response = responder_client.post(URL, {"name": "x", **body}, format="json")
        assert response.status_code == 400, body
        assert "monitors may not reach it" in str(response.json()["details"])


def test_viewers_read_only_and_anonymous_401(viewer_client, anonymous_client, db):
    Monitor.objects.create(name="Shop", kind="http", url="https://example.com/")
    assert viewer_client.get(URL).json()["count"] == 1
    assert viewer_client.post(URL, {"name": "x", "kind": "http", "url": "https://example.com/"}).status_code == 403
    assert anonymous_client.get(URL).status_code == 401


def test_results_and_uptime(viewer_client, db):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://example.com/", down_after=1)
    now = timezone.now()
    monitor.periods.update(started_at=now - timedelta(hours=3))  # as if created three hours ago
    record_result(monitor.pk, CheckResult("up", 40), now=now - timedelta(hours=2))
    record_result(monitor.pk, CheckResult("down", None, "HTTP 500"), now=now - timedelta(hours=1))
    record_result(monitor.pk, CheckResult("up", 60), now=now - timedelta(minutes=30))
    results = viewer_client.get(f"{URL}/{monitor.pk}/results", {"since": (now - timedelta(hours=3)).isoformat()}).json()
    assert results["resolution"] == "minute"
    assert [p["status"] for p in results["periods"]] == ["pending", "up", "down", "up"]
    assert [point["count"] for point in results["latency"]] == [1, 1, 1]
    uptime = viewer_client.get(f"{URL}/{monitor.pk}/uptime", {"window": "24h"}).json()
    assert uptime["uptime_percent"] == pytest.approx(100 * 1.5 / 2, abs=0.1)
    bad = viewer_client.get(f"{URL}/{monitor.pk}/uptime", {"window": "1y"})
    assert bad.status_code == 400 and "window" in bad.json()["details"]
    wide = viewer_client.get(
        f"{URL}/{monitor.pk}/results", {"since": (now - timedelta(days=3)).isoformat(), "resolution": "minute"}
    )
    assert wide.status_code == 400


def test_pause_resume_and_check_now(responder_client, allow_private, db):
    target = Target()
    try:
        monitor = services.create_monitor(name="Shop", kind="http", url=target.url, keyword="all good")
        checked = responder_client.post(f"{URL}/{monitor.pk}/check-now").json()
        assert checked["result"]["status"] == "up" and checked["monitor"]["status"] == "up"
        paused = responder_client.post(f"{URL}/{monitor.pk}/pause").json()
        assert paused["status"] == "paused"
        assert claim_due(now=timezone.now() + timedelta(hours=1)) == []
        resumed = responder_client.post(f"{URL}/{monitor.pk}/resume").json()
        assert resumed["status"] == "pending"
    finally:
        target.close()
    beat = services.create_monitor(name="Job", kind="heartbeat")
    assert responder_client.post(f"{URL}/{beat.pk}/check-now").status_code == 400


def test_check_now_on_a_monitor_with_locations_shows_the_result_without_recording_it(
    responder_client, allow_private, db
):
    target = Target()
    try:
        paris = ProbeLocation.objects.create(name="paris")
        monitor = services.create_monitor(name="Shop", kind="http", url=target.url, locations=[paris], down_after=1)
        checked = responder_client.post(f"{URL}/{monitor.pk}/check-now").json()
        assert checked["result"]["status"] == "up" and checked["recorded"] is False
        assert checked["monitor"]["status"] == "pending"  # one vantage point does not decide: the quorum does
    finally:
        target.close()


def test_an_edit_reschedules_and_the_kind_cannot_change(responder_client, db):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://example.com/")
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"interval_seconds": 120}, format="json")
    assert response.status_code == 200, response.json()
    assert Monitor.objects.get(pk=monitor.pk).next_check_at <= timezone.now()
    assert responder_client.patch(f"{URL}/{monitor.pk}", {"kind": "tcp"}, format="json").status_code == 400
    assert Monitor.objects.get(pk=monitor.pk).status == MonitorStatus.PENDING


# --- the kinds of issue 18 ------------------------------------------------------------------------------


def test_responders_create_dns_ping_tls_and_domain_monitors(responder_client, allow_private):
    dns = responder_client.post(
        URL,
        {"name": "MX", "kind": "dns", "host": "example.com", "dns_record_type": "MX", "dns_resolver": "127.0.0.1:5353",
         "dns_expected": "10 mx.example.com"},
        format="json",
    )  # fmt: skip
    assert dns.status_code == 201, dns.json()
    assert (dns.json()["dns_record_type"], dns.json()["dns_resolver"]) == ("MX", "127.0.0.1:5353")
    assert dns.json()["last_details"] == {} and dns.json()["location_results"] == [] and dns.json()["locations"] == []
    ping = responder_client.post(
        URL, {"name": "GW", "kind": "ping", "host": "127.0.0.1", "ping_count": 5, "max_packet_loss_percent": 20},
        format="json",
    )  # fmt: skip
    assert ping.status_code == 201, ping.json()
    assert (ping.json()["ping_count"], ping.json()["max_packet_loss_percent"]) == (5, 20)
    tls = responder_client.post(URL, {"name": "Cert", "kind": "tls", "host": "localhost"}, format="json")
    assert tls.status_code == 201, tls.json()
    assert (tls.json()["port"], tls.json()["tls_expiry_days"]) == (443, 14)
    domain = responder_client.post(URL, {"name": "Domain", "kind": "domain", "host": "Example.com"}, format="json")
    assert domain.status_code == 201, domain.json()
    body = domain.json()
    assert (body["interval_seconds"], body["timeout_seconds"], body["down_after"], body["domain_expiry_days"]) == (
        86400, 10, 1, 30
    )  # fmt: skip
    assert Monitor.objects.get(pk=body["id"]).next_check_at is not None  # due at once, then daily


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "dns", "host": "example.com", "dns_resolver": "resolver.example"}, "dns_resolver",
         "An IP address, optionally with a port, e.g. 9.9.9.9 or 9.9.9.9:5353."),
        ({"kind": "dns", "host": "ex ample.com"}, "host", "A DNS name such as example.com"),
        ({"kind": "dns", "host": "example.com", "dns_record_type": "SRV"}, "dns_record_type", None),
        ({"kind": "dns", "host": "example.com", "dns_record_type": "AAAA", "dns_expected": "192.0.2.1"},
         "dns_expected", "Line 1: 192.0.2.1 is not an IPv6 address"),
        ({"kind": "ping", "host": "example.com", "ping_count": 0}, "ping_count", "Between 1 and 10 packets."),
        ({"kind": "ping", "host": "example.com", "max_packet_loss_percent": 100}, "max_packet_loss_percent", None),
        ({"kind": "ping"}, "host", "A host name or address."),
        ({"kind": "tls", "host": "example.com", "port": 70000}, "port", "A port between 1 and 65535."),
        ({"kind": "tls", "host": "example.com", "tls_expiry_days": 400}, "tls_expiry_days", "Between 0 and 365 days."),
        ({"kind": "domain", "host": "example.com", "interval_seconds": 60}, "interval_seconds",
         "A domain monitor is checked once a day: leave it out (or send 86400)."),
        ({"kind": "domain", "host": "localhost"}, "host", "A domain name such as example.com (no https://, no path)."),
        ({"kind": "domain", "host": "example.com", "domain_expiry_days": 0}, "domain_expiry_days", "Between 1 and"),
        ({"kind": "http", "url": "https://example.com/", "json_assertions": "$.ok == true\n$.n > "}, "json_assertions",
         "Line 2: “>” needs a value, e.g. $.n > 3"),
        ({"kind": "heartbeat", "min_runtime_seconds": 0}, "min_runtime_seconds",
         "Between 1 second and 365 days; leave it blank for no bound."),
        ({"kind": "heartbeat", "min_ping_interval_seconds": 400 * 86400}, "min_ping_interval_seconds", None),
        ({"kind": "heartbeat", "min_runtime_seconds": 300, "max_runtime_seconds": 300}, "max_runtime_seconds",
         "Longer than the shortest run (300 s)."),
        ({"kind": "http", "url": "https://example.com/", "quorum": 1}, "quorum",
         "Choose locations first: without them the check runs on one worker."),
        ({"kind": "http", "url": "https://example.com/", "locations": ["mars"]}, "locations", None),
    ],
)  # fmt: skip
def test_bad_settings_of_the_new_kinds_are_400_naming_the_field(responder_client, body, field, message):
    response = responder_client.post(URL, {"name": "x", **body}, format="json")
    assert response.status_code == 400, response.json()
    details = response.json()["details"]
    assert field in details, details
    if message is not None:
        assert any(text.startswith(message) for text in details[field]), details[field]


def test_targets_of_the_new_kinds_are_vetted_when_saving(responder_client, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    for body, field in (
        ({"kind": "ping", "host": "127.0.0.1"}, "host"),
        ({"kind": "tls", "host": "10.0.0.7", "port": 8443}, "host"),
        ({"kind": "dns", "host": "example.com", "dns_resolver": "192.168.1.1"}, "dns_resolver"),
    ):
        response = responder_client.post(URL, {"name": "x", **body}, format="json")
        assert response.status_code == 400, body
        assert "monitors may not reach it" in str(response.json()["details"][field])
    # A DNS monitor's host and a domain are names asked about, not connected to: private-looking names pass.
    assert (
        responder_client.post(URL, {"name": "x", "kind": "dns", "host": "localhost"}, format="json").status_code == 201
    )


def test_locations_are_set_by_name_with_a_quorum_and_their_last_results_are_listed(responder_client, db):
    paris = ProbeLocation.objects.create(name="paris", label="Paris")
    tokyo = ProbeLocation.objects.create(name="tokyo")
    ProbeLocation.objects.create(name="ohio")
    monitor = services.create_monitor(name="Shop", kind="http", url="https://example.com/")
    response = responder_client.patch(
        f"{URL}/{monitor.pk}", {"locations": ["paris", "tokyo", "paris"], "quorum": 2}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["locations"]) == ["paris", "tokyo"] and response.json()["quorum"] == 2
    too_many = responder_client.patch(f"{URL}/{monitor.pk}", {"quorum": 3}, format="json")
    assert too_many.status_code == 400
    assert too_many.json()["details"]["quorum"] == [
        "Between 1 and 2 (the number of locations chosen); leave it blank for a majority."
    ]
    fewer = responder_client.patch(f"{URL}/{monitor.pk}", {"locations": ["ohio"]}, format="json")
    assert fewer.status_code == 400 and "quorum" in fewer.json()["details"]  # the saved quorum no longer fits
    now = timezone.now()
    LocationResult.objects.create(
        monitor=monitor, location=paris, round_at=now, status="up", latency_ms=42, checked_at=now
    )
    LocationResult.objects.create(
        monitor=monitor, location=tokyo, round_at=now, status="down", error="HTTP 503", checked_at=now
    )
    for body in (responder_client.get(f"{URL}/{monitor.pk}").json(), responder_client.get(URL).json()["results"][0]):
        assert body["location_results"] == [
            {"location": "paris", "status": "up", "latency_ms": 42, "error": "", "checked_at": _iso(now)},
            {"location": "tokyo", "status": "down", "latency_ms": None, "error": "HTTP 503", "checked_at": _iso(now)},
        ]
    cleared = responder_client.patch(f"{URL}/{monitor.pk}", {"locations": [], "quorum": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["locations"] == [] and cleared.json()["quorum"] is None


def test_a_heartbeat_runs_from_no_location(responder_client, db):
    ProbeLocation.objects.create(name="paris")
    response = responder_client.post(URL, {"name": "Job", "kind": "heartbeat", "locations": ["paris"]}, format="json")
    assert response.status_code == 400
    assert response.json()["details"]["locations"] == ["A heartbeat is pinged by its job: it runs from no location."]


def test_heartbeat_run_time_bounds_are_saved_and_cleared(responder_client, db):
    created = responder_client.post(
        URL,
        {"name": "Job", "kind": "heartbeat", "min_runtime_seconds": 60, "max_runtime_seconds": 3600,
         "min_ping_interval_seconds": 600},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    assert (created.json()["min_runtime_seconds"], created.json()["max_runtime_seconds"]) == (60, 3600)
    cleared = responder_client.patch(f"{URL}/{created.json()['id']}", {"max_runtime_seconds": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["max_runtime_seconds"] is None
    assert cleared.json()["min_ping_interval_seconds"] == 600


def test_check_now_of_a_dns_monitor_keeps_what_it_learnt_as_last_details(responder_client, allow_private):
    from tests.monitors.test_check_dns import ZONE, DnsServer

    server = DnsServer(ZONE)
    try:
        monitor = services.create_monitor(
            name="Web", kind="dns", host="example.test", dns_resolver=server.address, dns_expected="192.0.2.10"
        )
        checked = responder_client.post(f"{URL}/{monitor.pk}/check-now").json()
    finally:
        server.close()
    assert checked["result"]["status"] == "up"
    assert checked["monitor"]["last_details"]["answers"] == ["192.0.2.10", "192.0.2.11"]
    assert Monitor.objects.get(pk=monitor.pk).last_details["resolver"] == server.address


def test_the_schema_documents_the_new_fields(viewer_client):
    schema = viewer_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    monitor = schema["components"]["schemas"]["Monitor"]["properties"]
    for name in ("json_assertions", "dns_record_type", "dns_resolver", "dns_expected", "ping_count",
                 "max_packet_loss_percent", "domain_expiry_days", "min_runtime_seconds", "max_runtime_seconds",
                 "min_ping_interval_seconds", "locations", "quorum", "last_details", "location_results"):  # fmt: skip
        assert name in monitor, name
    assert monitor["location_results"]["readOnly"] is True
    item = monitor["location_results"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][item]["properties"]) == {
        "location", "status", "latency_ms", "error", "checked_at"
    }  # fmt: skip
    kinds = schema["components"]["schemas"][monitor["kind"]["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert {"dns", "ping", "tls", "domain"} <= set(kinds)


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_monitor_is_created_with_its_locations_and_quorum(responder_client, db):
    ProbeLocation.objects.create(name="paris")
    ProbeLocation.objects.create(name="tokyo")
    response = responder_client.post(
        URL,
        {"name": "Shop", "kind": "http", "url": "https://example.com/", "locations": ["paris", "tokyo"], "quorum": 2},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert sorted(response.json()["locations"]) == ["paris", "tokyo"] and response.json()["quorum"] == 2
    monitor = Monitor.objects.get(pk=response.json()["id"])
    assert sorted(monitor.locations.values_list("name", flat=True)) == ["paris", "tokyo"]


def test_assertions_on_a_head_request_and_a_too_soon_bound_over_the_period_are_refused(responder_client, db):
    head = responder_client.post(
        URL,
        {"name": "h", "kind": "http", "url": "https://example.com/", "method": "HEAD", "json_assertions": "$.a exists"},
        format="json",
    )
    assert head.status_code == 400 and "HEAD request gets no body" in head.json()["details"]["json_assertions"][0]
    beat = responder_client.post(
        URL,
        {"name": "b", "kind": "heartbeat", "period_seconds": 3600, "min_ping_interval_seconds": 3600},
        format="json",
    )
    assert beat.status_code == 400
    assert "Shorter than the expected period (3600 s)" in beat.json()["details"]["min_ping_interval_seconds"][0]
    fine = responder_client.post(
        URL,
        {"name": "c", "kind": "heartbeat", "period_seconds": 3600, "min_ping_interval_seconds": 1800},
        format="json",
    )
    assert fine.status_code == 201
