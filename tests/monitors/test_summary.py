"""A monitor's page shows its settings as a sentence, with an Edit button for responders."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from monitors import services
from monitors.models import Monitor
from monitors.summary import duration, summarize


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "10 s"),
        (60, "60 s"),
        (90, "90 s"),
        (300, "5 min"),
        (7200, "2 h"),
        (86400, "1 day"),
        (172800, "2 days"),
        (3601, "3601 s"),
    ],
)
def test_durations_read_in_the_largest_exact_unit(seconds, text):
    assert duration(seconds) == text


def test_an_http_monitor_in_one_sentence(db):
    monitor = services.create_monitor(
        name="Shop", kind="http", url="https://shop.example/health", expected_statuses="200-299", keyword="ok",
        degraded_after_ms=800, headers={"Authorization": "secret"}, open_incident=True, service="shop",
    )  # fmt: skip
    summary = summarize(monitor)
    assert summary.headline == (
        "GET https://shop.example/health every 60 s, timeout 10 s, expects 200\u2013299, alerts after 2 failures"
    )
    assert summary.details == [
        "The response must contain “ok”.",
        "Sends 1 extra header.",
        "Follows redirects.",
        "Degraded when the TLS certificate expires within 14 days.",
        "Degraded when slower than 800 ms.",
        "Up again after 1 good check in a row.",
        "Opens a SEV2 incident of service “shop” when it goes down.",
    ]
    assert "secret" not in " ".join(summary.details)  # header values may be credentials


def test_tcp_and_heartbeat_monitors_in_one_sentence(db):
    tcp = services.create_monitor(
        name="db", kind="tcp", host="db.example", port=5432, interval_seconds=30, down_after=1
    )
    assert (
        summarize(tcp).headline == "TCP connection to db.example:5432 every 30 s, timeout 10 s, alerts after 1 failure"
    )
    cron = services.create_monitor(
        name="b", kind="heartbeat", schedule_kind="cron", cron="0 3 * * *", tz="Europe/Paris"
    )
    assert (
        summarize(cron).headline
        == "Expects a ping on the cron schedule “0 3 * * *” (Europe/Paris), down when one is 1 h late"
    )
    simple = services.create_monitor(
        name="q", kind="heartbeat", period_seconds=300, grace_seconds=120, manual_resume=True
    )
    assert summarize(simple).headline == "Expects a ping every 5 min, down when one is 2 min late"
    assert summarize(simple).details == ["Once paused, it ignores pings until resumed by hand.", "Opens no incident."]


def test_the_page_shows_the_summary_and_responders_get_an_edit_button(client, responder):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/", keyword="<b>ok</b>")
    client.force_login(responder)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert '<p class="summary-headline" id="monitor-summary">GET https://shop.example/ every 60 s' in page
    assert "“&lt;b&gt;ok&lt;/b&gt;”" in page and "<b>ok</b>" not in page
    assert f'<a class="button" href="/monitors/{monitor.pk}/edit/">Edit</a>' in page
    assert f'<form method="post" action="/monitors/{monitor.pk}/edit/"' not in page  # no open form any more


def test_viewers_read_the_summary_without_an_edit_button(client, viewer):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    client.force_login(viewer)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert 'id="monitor-summary"' in page and f"/monitors/{monitor.pk}/edit/" not in page


def test_dns_ping_tls_and_domain_monitors_in_one_sentence(db):
    dns = services.create_monitor(
        name="mx", kind="dns", host="example.com", dns_record_type="MX", dns_resolver="9.9.9.9",
        dns_expected="10 mx1.example.com\nmx2.example.com", interval_seconds=300,
    )  # fmt: skip
    assert summarize(dns).headline == (
        "Looks up the MX records of example.com at 9.9.9.9 every 5 min, timeout 10 s, alerts after 2 failures"
    )
    assert summarize(dns).details[0] == "The answer must include “10 mx1.example.com” and “mx2.example.com”."
    system = services.create_monitor(name="a", kind="dns", host="example.com")
    assert " at the system resolver " in summarize(system).headline
    assert summarize(system).details[0] == "Any answer will do; no answer (or no such name) is Down."
    ping = services.create_monitor(name="gw", kind="ping", host="gw.example", ping_count=5, max_packet_loss_percent=20)
    assert summarize(ping).headline == "Pings gw.example (5 packets) every 60 s, timeout 10 s, alerts after 2 failures"
    assert summarize(ping).details[:2] == [
        "Degraded when more than 20 % of the packets are lost.",
        "Down when every packet is lost.",
    ]
    tls = services.create_monitor(name="cert", kind="tls", host="example.com", port=993, tls_expiry_days=21)
    assert summarize(tls).headline.startswith("Checks the TLS certificate of example.com:993 every 60 s")
    assert "Degraded when the certificate expires within 21 days." in summarize(tls).details
    domain = services.create_monitor(
        name="d", kind="domain", host="example.com", interval_seconds=86400, down_after=1, domain_expiry_days=45
    )
    assert summarize(domain).headline == (
        "Looks up the registration of example.com (RDAP) once a day, timeout 10 s, alerts after 1 failure"
    )
    assert summarize(domain).details[0] == "Degraded when it expires within 45 days; Down once expired."


def test_json_assertions_locations_and_run_time_bounds_are_mentioned(db):
    from monitors.models import ProbeLocation

    shop = services.create_monitor(
        name="Shop", kind="http", url="http://shop.example/health",
        json_assertions='# health\n$.status == "ok"\n\n$.db.ok == true',
    )  # fmt: skip
    shop.locations.set(
        [ProbeLocation.objects.create(name="paris", label="Paris"), ProbeLocation.objects.create(name="tokyo")]
    )
    details = summarize(shop).details
    assert "The response must be JSON and pass 2 assertions." in details
    assert "Runs from Paris and tokyo; Down when a majority (2 of 2) fail in the same round." in details
    shop.quorum = 1
    assert "Runs from Paris and tokyo; Down when 1 of them (1 of 2) fail in the same round." in summarize(shop).details
    job = services.create_monitor(
        name="job", kind="heartbeat", min_runtime_seconds=60, max_runtime_seconds=7200, min_ping_interval_seconds=600
    )
    assert summarize(job).details[:2] == [
        "A run shorter than 60 s or longer than 2 h fails.",
        "A success sooner than 10 min after the previous one fails.",
    ]


# --- the last check's details (templates/monitors/_check_details.html, included in the monitor page) ---


def _details(monitor) -> str:
    return render_to_string("monitors/_check_details.html", {"monitor": monitor})


def test_the_last_checks_details_read_well_for_each_kind(db):
    dns = services.create_monitor(name="a", kind="dns", host="example.com", dns_record_type="A")
    dns.last_details = {"record_type": "A", "resolver": "9.9.9.9:53", "answers": ["192.0.2.1", "<b>x</b>"], "ttl": 60}
    page = _details(dns)
    assert "A records of example.com at 9.9.9.9:53" in page and "<code>192.0.2.1</code>" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "60 s" in page
    ping = services.create_monitor(name="p", kind="ping", host="gw.example")
    ping.last_details = {"address": "192.0.2.1", "packets_sent": 3, "packets_received": 2, "packet_loss_percent": 33.3,
                         "rtt_min_ms": 1.2345, "rtt_avg_ms": 2.5, "rtt_max_ms": 3.75}  # fmt: skip
    page = _details(ping)
    assert "2 of 3 answered · 33.3 % lost" in page and "1.23 / 2.50 / 3.75 ms" in page
    tls = services.create_monitor(name="t", kind="tls", host="example.com", port=443)
    tls.last_details = {"subject": "example.com", "issuer": "R11 (Let's Encrypt)",
                        "not_after": "2026-04-01T00:00:00+00:00", "days_left": 31,
                        "names": ["example.com", "www.example.com"], "tls_version": "TLSv1.3"}  # fmt: skip
    page = _details(tls)
    assert ">2026-04-01</time>" in page and "in 31 days" in page and "example.com, www.example.com" in page
    tls.last_details = {"verify_error": "self-signed certificate", "verify_code": 18}
    assert "The certificate did not verify: self-signed certificate" in _details(tls)
    domain = services.create_monitor(name="d", kind="domain", host="example.com", interval_seconds=86400)
    domain.last_details = {"domain": "example.com", "registrar": "Example Registrar",
                           "expires_at": "2027-01-02T00:00:00+00:00", "days_left": 1,
                           "rdap_server": "https://rdap.example/domain/example.com"}  # fmt: skip
    page = _details(domain)
    assert "Example Registrar" in page and ">2027-01-02</time>" in page and "in 1 day)" in page
    domain.last_details = {"domain": "example.com", "registrar": "", "expires_at": None, "rdap_server": "https://r/"}
    assert "not published by the registry" in _details(domain)
    domain.last_details = {"domain": "example.com", "lookup_failing_since": "2026-12-07T10:00:00+00:00",
                           "lookup_error": "HTTP 429 <from> the registry"}  # fmt: skip
    page = _details(domain)
    assert "not known yet" in page and "failing since" in page and "HTTP 429 &lt;from&gt; the registry" in page
    http = services.create_monitor(name="h", kind="http", url="https://example.com/")
    http.last_details = {"json_assertions": [
        {"line": 1, "assertion": '$.status == "ok"', "passed": False, "found": '"degraded"'},
        {"line": 2, "assertion": "$.x exists", "passed": False, "found": ""},
    ]}  # fmt: skip
    page = _details(http)
    assert "<code>$.status == &quot;ok&quot;</code>" in page and "Failed" in page and "nothing matched" in page


def test_no_details_no_section(db):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    assert 'id="check-details"' not in _details(monitor)


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"kind": "http", "url": "https://shop.example/"}, "https://shop.example/"),
        ({"kind": "tcp", "host": "db.example", "port": 5432}, "db.example:5432"),
        ({"kind": "tls", "host": "mail.example"}, "mail.example:443"),
        ({"kind": "dns", "host": "example.com"}, "example.com"),
        ({"kind": "ping", "host": "10.0.0.1"}, "10.0.0.1"),
        ({"kind": "domain", "host": "example.com"}, "example.com"),
    ],
)
def test_a_monitors_target_names_a_port_only_where_it_has_one(fields, target):
    assert Monitor(name="m", **fields).target == target
