"""The monitor form: the kind first, then only that kind's fields in fieldsets; create and edit; headers as lines."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from monitors import kinds, services
from monitors.forms import HeadersField, MonitorForm
from monitors.models import Monitor, MonitorKind, ProbeLocation
from monitors.serializers import MonitorSerializer

HTTP_ONLY = ("url", "method", "headers", "body", "expected_statuses", "keyword", "tls_expiry_days")
TCP_ONLY = ("host", "port")
HEARTBEAT_ONLY = ("schedule_kind", "period_seconds", "cron", "tz", "grace_seconds", "manual_resume")


def names(page: str) -> set[str]:
    """The names of the form controls on a page."""
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page)) - {"csrfmiddlewaretoken"}


def new_http(**overrides) -> dict:
    return {"kind": "http", "name": "Shop", "url": "https://shop.example/", "method": "GET",
            "expected_statuses": "200-299", "interval_seconds": 60, "down_after": 2, "up_after": 1,
            "tls_expiry_days": 14, "incident_severity": "SEV2", "follow_redirects": "on"} | overrides  # fmt: skip


@pytest.fixture
def responder_browser(client, responder):
    client.force_login(responder)
    return client


def test_every_kind_says_which_fields_it_has_and_they_are_api_fields():
    assert set(kinds.KINDS) == set(MonitorKind.values)
    writable = set(MonitorSerializer.Meta.fields) - set(MonitorSerializer.Meta.read_only_fields)
    assert kinds.all_kind_fields() <= writable
    for spec in kinds.KINDS.values():
        assert len(spec.fields) == len(set(spec.fields)), spec.kind  # a field appears once per kind


def test_the_first_step_asks_for_the_kind(responder_browser):
    response = responder_browser.get("/monitors/new/")
    page = response.content.decode()
    assert response.status_code == 200
    assert names(page) == {"kind"}  # only the kind picker, no settings yet
    for kind in ("http", "tcp", "heartbeat"):
        assert f'type="radio" name="kind" value="{kind}"' in page
    assert 'method="get" action="/monitors/new/"' in page  # works without JavaScript: ?kind=…


def test_choosing_http_shows_only_http_fields_grouped_in_fieldsets(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=http").content.decode()
    fields = names(page)
    assert set(HTTP_ONLY) <= fields
    assert not fields & {*TCP_ONLY, *HEARTBEAT_ONLY}
    legends = re.findall(r'<fieldset class="group" data-group="(\w+)">\s*<legend>([^<]+)</legend>', page)
    assert legends == [("request", "Request"), ("assertions", "Assertions"), ("schedule", "Schedule"),
                       ("locations", "Locations"), ("alerting", "Alerting")]  # fmt: skip
    assert re.search(r'name="kind" value="http"[^>]*checked', page)  # the picker shows the chosen kind
    assert "Test now" in page


def test_labels_are_human_with_help_and_defaults(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=http").content.decode()
    for label in ("URL", "HTTP method", "Expected status codes", "Certificate expiry warning (days)",
                  "Check every (seconds)", "Timeout (seconds)", "Down after (failures in a row)"):  # fmt: skip
        assert f">{label}<" in page, label
    assert "Url" not in page and "Tls expiry days" not in page and "Tz" not in page and ":</label>" not in page
    assert re.search(r'name="interval_seconds" value="60"', page)
    assert re.search(r'name="down_after" value="2"', page)
    assert re.search(r'name="expected_statuses" value="200-399"', page)
    assert re.search(r'name="tls_expiry_days" value="14"', page)
    assert re.search(r'name="timeout_seconds"[^>]*placeholder="auto"', page)
    assert "80 % of the interval, at most 10 seconds" in page
    assert '<option value="GET" selected>GET</option>' in page


def test_tcp_shows_the_target_and_no_http_fields(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=tcp").content.decode()
    fields = names(page)
    assert set(TCP_ONLY) <= fields and not fields & {*HTTP_ONLY, *HEARTBEAT_ONLY}
    assert "<legend>Target</legend>" in page


def test_heartbeat_shows_its_schedule_a_zone_picker_and_the_ping_url_instead_of_test_now(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=heartbeat").content.decode()
    fields = names(page)
    assert set(HEARTBEAT_ONLY) <= fields and not fields & {*HTTP_ONLY, *TCP_ONLY, "interval_seconds"}
    assert re.search(r'<select name="tz"[^>]*hx-get="/monitors/form/cron-preview/"', page)
    assert '<optgroup label="Europe">' in page and '<option value="UTC" selected>UTC</option>' in page
    assert 'hx-trigger="input changed delay:300ms"' in page and 'id="cron-preview"' in page
    assert "Test now" not in page
    assert "/ping/&lt;ping key&gt;" in page


def test_an_unknown_kind_is_refused_with_the_picker(responder_browser):
    response = responder_browser.get("/monitors/new/?kind=ftp")
    assert response.status_code == 400
    assert "Pick one of the kinds below." in response.content.decode()


def test_switching_kind_with_htmx_returns_only_the_form_and_keeps_the_name(responder_browser):
    response = responder_browser.get("/monitors/new/?kind=tcp&name=Primary+db", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="monitor-form">') and "<html" not in page
    assert 'value="Primary db"' in page and 'name="host"' in page and 'name="url"' not in page
    assert response["HX-Push-Url"] == "/monitors/new/?kind=tcp"


def test_creating_an_http_monitor_without_a_timeout_takes_the_default_of_its_interval(responder_browser):
    response = responder_browser.post("/monitors/new/", new_http(interval_seconds=10, timeout_seconds=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Shop")
    assert response["Location"] == f"/monitors/{monitor.pk}/"
    assert (monitor.kind, monitor.interval_seconds, monitor.timeout_seconds) == ("http", 10, 8)
    assert monitor.expected_statuses == "200-299" and monitor.headers == {}


def test_an_explicit_timeout_too_long_for_the_interval_is_explained_inline(responder_browser):
    response = responder_browser.post("/monitors/new/", new_http(interval_seconds=10, timeout_seconds=15))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Shorter than the interval (10 s); leave it out for the default, 8 s." in page
    assert 'class="field field-number has-error' in page
    assert not Monitor.objects.exists()


def test_a_tcp_monitor_needs_its_host_and_port(responder_browser):
    response = responder_browser.post("/monitors/new/", {"kind": "tcp", "name": "db", "interval_seconds": 60})
    assert response.status_code == 400
    errors = re.findall(r'id="id_(\w+)_error"', response.content.decode())
    assert {"host", "port"} <= set(errors)


def test_headers_are_lines_of_name_and_value_or_json():
    field = HeadersField(required=False)
    assert field.clean("Authorization: Bearer x\n\nAccept: text/html") == {
        "Authorization": "Bearer x",
        "Accept": "text/html",
    }
    assert field.clean('{"X-Key": 1}') == {"X-Key": "1"}
    assert field.clean("") == {}
    assert field.prepare_value({"A": "b"}) == "A: b"
    with pytest.raises(Exception, match="Line 1"):
        field.clean("no colon here")


def test_a_heartbeat_with_a_cron_schedule_is_created(responder_browser):
    response = responder_browser.post(
        "/monitors/new/",
        {
            "kind": "heartbeat",
            "name": "Backup",
            "schedule_kind": "cron",
            "cron": "0 3 * * *",
            "tz": "Europe/Paris",
            "period_seconds": 86400,
            "grace_seconds": 3600,
            "incident_severity": "SEV3",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Backup")
    assert (monitor.kind, monitor.cron, monitor.tz, monitor.next_check_at) == (
        "heartbeat",
        "0 3 * * *",
        "Europe/Paris",
        None,
    )


def test_a_bad_cron_expression_is_refused_on_the_field(responder_browser):
    response = responder_browser.post(
        "/monitors/new/",
        {
            "kind": "heartbeat",
            "name": "Backup",
            "schedule_kind": "cron",
            "cron": "0 25 * * *",
            "tz": "UTC",
            "period_seconds": 86400,
            "grace_seconds": 3600,
            "incident_severity": "SEV3",
        },
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_cron_error"' in page and "Not a cron expression: bad hour" in page  # the preview says why


def test_editing_shows_only_its_kinds_fields_and_no_picker(responder_browser):
    monitor = services.create_monitor(name="db", kind="tcp", host="db.example", port=5432)
    response = responder_browser.get(f"/monitors/{monitor.pk}/edit/")
    page = response.content.decode()
    assert response.status_code == 200
    assert names(page) == {"name", *TCP_ONLY, "degraded_after_ms", "interval_seconds",
                           "timeout_seconds", "down_after", "up_after", "open_incident",
                           "incident_severity", "service"}  # fmt: skip
    assert 'value="db.example"' in page and "Kind: <strong>TCP port</strong>" in page
    assert f'hx-post="/monitors/form/test/?monitor={monitor.pk}"' in page


def test_editing_saves_and_a_default_timeout_follows_the_interval(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    assert monitor.timeout_seconds == 10
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert re.search(r'<input type="number" name="timeout_seconds"(?![^>]*value=)', page)  # blank: the default
    response = responder_browser.post(
        f"/monitors/{monitor.pk}/edit/", new_http(interval_seconds=10, timeout_seconds="")
    )
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.pk}/"
    monitor.refresh_from_db()
    assert (monitor.interval_seconds, monitor.timeout_seconds, monitor.expected_statuses) == (10, 8, "200-299")


def test_a_refused_edit_keeps_the_saved_monitor(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    response = responder_browser.post(f"/monitors/{monitor.pk}/edit/", new_http(name="Renamed", url="ftp://x"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Edit “Shop”" in page and 'value="Renamed"' in page  # the heading names the saved monitor
    assert Monitor.objects.get(pk=monitor.pk).name == "Shop"


def test_heartbeat_edit_shows_its_ping_url(responder_browser, settings):
    monitor = services.create_monitor(name="Backup", kind="heartbeat")
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert f"{settings.TRACEPOINT['BASE_URL'].rstrip('/')}/ping/{monitor.ping_key}" in page


def test_viewers_and_anonymous_users_do_not_get_the_form(client, viewer):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    anonymous = client.get(f"/monitors/{monitor.pk}/edit/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client.get("/monitors/new/?kind=http").status_code == 302
    client.force_login(viewer)
    assert client.get(f"/monitors/{monitor.pk}/edit/").status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/edit/", new_http(name="x")).status_code == 403
    assert client.post("/monitors/new/", new_http()).status_code == 403
    assert Monitor.objects.get(pk=monitor.pk).name == "Shop"


def test_other_methods_are_not_allowed(responder_browser):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    assert responder_browser.delete("/monitors/new/").status_code == 405
    assert responder_browser.put(f"/monitors/{monitor.pk}/edit/").status_code == 405


def test_the_form_escapes_what_users_typed(responder_browser):
    monitor = services.create_monitor(name="<b>Shop</b>", kind="http", url="https://shop.example/", keyword="<i>")
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert "<b>Shop</b>" not in page and "&lt;b&gt;Shop&lt;/b&gt;" in page
    assert 'value="&lt;i&gt;"' in page


def test_the_form_class_keeps_only_the_kinds_fields(db):
    form = MonitorForm(kind="tcp")
    # No probe location exists: there is no quorum to ask for.
    assert set(form.fields) == {"kind", "name", *kinds.KINDS["tcp"].fields} - {"quorum"}
    assert [group["name"] for group in form.fieldsets()] == [
        "request",
        "assertions",
        "schedule",
        "locations",
        "alerting",
    ]


# --- the kinds of issue 18: DNS, ping, TLS, domain; heartbeat run-time bounds; locations ---------------


def test_the_kind_picker_offers_every_kind_with_a_short_description(responder_browser):
    page = responder_browser.get("/monitors/new/").content.decode()
    for kind, label in (("dns", "DNS record"), ("ping", "Ping (ICMP)"), ("tls", "TLS certificate"),
                        ("domain", "Domain expiry (RDAP)")):  # fmt: skip
        assert f'type="radio" name="kind" value="{kind}"' in page
        assert html.escape(f"{label}: {kinds.KINDS[kind].description}") in page


@pytest.mark.parametrize(
    ("kind", "shown", "labels"),
    [
        ("dns", {"host", "dns_record_type", "dns_resolver", "dns_expected", "degraded_after_ms", "interval_seconds"},
         ("Name to look up", "Record type", "Resolver", "Expected values", "Slow answer after (ms)")),
        ("ping", {"host", "ping_count", "max_packet_loss_percent", "degraded_after_ms", "interval_seconds"},
         ("Host", "Packets per check", "Packet loss allowed (%)", "Slow round trip after (ms)")),
        ("tls", {"host", "port", "tls_expiry_days", "degraded_after_ms", "interval_seconds"},
         ("Host", "Port", "Certificate expiry warning (days)", "Slow handshake after (ms)")),
        ("domain", {"host", "domain_expiry_days", "timeout_seconds", "down_after"},
         ("Domain", "Expiry warning (days)", "Down after (failed daily checks in a row)")),
    ],
)  # fmt: skip
def test_each_new_kind_shows_only_its_own_fields_with_their_labels(responder_browser, kind, shown, labels):
    page = responder_browser.get(f"/monitors/new/?kind={kind}").content.decode()
    fields = names(page)
    assert shown <= fields
    assert not fields & {"url", "method", "json_assertions", "schedule_kind", "cron"}
    assert ("ping_count" in fields) == (kind == "ping") and ("dns_resolver" in fields) == (kind == "dns")
    for label in labels:
        assert f">{label}<" in page, label
    assert ("<legend>Locations</legend>" in page) == (kind != "domain") and "Test now" in page


def test_new_kinds_get_their_own_defaults(responder_browser):
    assert re.search(r'name="port" value="443"', responder_browser.get("/monitors/new/?kind=tls").content.decode())
    domain = responder_browser.get("/monitors/new/?kind=domain").content.decode()
    assert 'name="interval_seconds"' not in domain  # checked once a day
    assert re.search(r'name="down_after" value="1"', domain)
    assert re.search(r'name="domain_expiry_days" value="30"', domain)
    assert "The domain is looked up once a day." in domain
    ping = responder_browser.get("/monitors/new/?kind=ping").content.decode()
    control = re.search(r'<input[^>]*name="ping_count"[^>]*>', ping).group(0)
    assert 'value="3"' in control and 'min="1"' in control and 'max="10"' in control


def test_a_dns_monitor_is_created_from_the_form(responder_browser, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    response = responder_browser.post(
        "/monitors/new/",
        {"kind": "dns", "name": "Mail", "host": "example.com", "dns_record_type": "MX", "dns_resolver": "9.9.9.9",
         "dns_expected": "10 mx.example.com.", "interval_seconds": 300, "down_after": 2, "up_after": 1,
         "incident_severity": "SEV3"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Mail")
    assert (monitor.kind, monitor.host, monitor.dns_record_type, monitor.dns_resolver) == (
        "dns", "example.com", "MX", "9.9.9.9"
    )  # fmt: skip
    assert monitor.dns_expected == "10 mx.example.com."


def test_a_domain_monitor_is_checked_daily_and_a_tls_monitor_defaults_to_port_443(responder_browser):
    domain = responder_browser.post(
        "/monitors/new/",
        {"kind": "domain", "name": "Our domain", "host": "example.com", "domain_expiry_days": 45,
         "down_after": 1, "up_after": 1, "incident_severity": "SEV3"},
    )  # fmt: skip
    assert domain.status_code == 302, domain.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Our domain")
    assert (monitor.kind, monitor.interval_seconds, monitor.timeout_seconds, monitor.domain_expiry_days) == (
        "domain", 86400, 10, 45
    )  # fmt: skip
    tls = responder_browser.post(
        "/monitors/new/",
        {"kind": "tls", "name": "Cert", "host": "example.com", "port": 443, "tls_expiry_days": 21,
         "interval_seconds": 3600, "down_after": 1, "up_after": 1, "incident_severity": "SEV3"},
    )  # fmt: skip
    assert tls.status_code == 302, tls.content.decode()[:3000]
    assert Monitor.objects.get(name="Cert").port == 443


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "dns", "host": "not a name", "dns_record_type": "A"}, "host", "A DNS name such as example.com"),
        ({"kind": "dns", "host": "example.com", "dns_record_type": "A", "dns_resolver": "dns.google"},
         "dns_resolver", "An IP address, optionally with a port"),
        ({"kind": "dns", "host": "example.com", "dns_record_type": "A", "dns_expected": "192.0.2.1\nmail"},
         "dns_expected", "Line 2: mail is not an IPv4 address"),
        ({"kind": "ping", "host": "example.com", "ping_count": 11, "max_packet_loss_percent": 0}, "ping_count",
         "Between 1 and 10 packets."),
        ({"kind": "domain", "host": "https://example.com/", "domain_expiry_days": 30}, "host",
         "A domain name such as example.com (no https://, no path)."),
        ({"kind": "http", "url": "https://example.com/", "method": "GET", "expected_statuses": "200",
          "tls_expiry_days": 14, "json_assertions": '$.status == "ok"\nstatus == ok'}, "json_assertions",
         "Line 2: start with a JSONPath"),
    ],
)  # fmt: skip
def test_bad_settings_of_the_new_kinds_are_explained_on_their_field(responder_browser, fields, field, message):
    base = {"name": "x", "interval_seconds": 60, "down_after": 2, "up_after": 1, "incident_severity": "SEV3"}
    response = responder_browser.post("/monitors/new/", base | fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in page
    assert html.escape(message, quote=False) in page or message in page, page[:200]
    assert not Monitor.objects.exists()


def test_heartbeats_get_a_run_time_fieldset_whose_bounds_must_make_sense(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=heartbeat").content.decode()
    assert '<fieldset class="group" data-group="runtime">' in page and "<legend>Run time</legend>" in page
    for label in ("Shortest run (seconds)", "Longest run (seconds)", "Not more often than every (seconds)"):
        assert f">{label}<" in page
    assert 'name="locations"' not in page and 'name="quorum"' not in page  # a heartbeat runs nowhere
    beat = {"kind": "heartbeat", "name": "Backup", "schedule_kind": "simple", "period_seconds": 86400,
            "grace_seconds": 3600, "cron": "0 3 * * *", "tz": "UTC", "incident_severity": "SEV3"}  # fmt: skip
    refused = responder_browser.post("/monitors/new/", beat | {"min_runtime_seconds": 600, "max_runtime_seconds": 60})
    assert refused.status_code == 400
    assert "Longer than the shortest run (600 s)." in refused.content.decode()
    created = responder_browser.post(
        "/monitors/new/",
        beat | {"min_runtime_seconds": 60, "max_runtime_seconds": 7200, "min_ping_interval_seconds": ""},
    )
    assert created.status_code == 302, created.content.decode()[:3000]
    monitor = Monitor.objects.get(name="Backup")
    assert (monitor.min_runtime_seconds, monitor.max_runtime_seconds, monitor.min_ping_interval_seconds) == (
        60, 7200, None
    )  # fmt: skip


def test_locations_are_ticked_by_label_with_their_state_and_the_quorum_is_checked(responder_browser):
    now = timezone.now()
    ProbeLocation.objects.create(name="paris", label="Paris", last_seen_at=now - timedelta(seconds=20))
    ProbeLocation.objects.create(name="tokyo", last_seen_at=now - timedelta(hours=2))
    ProbeLocation.objects.create(name="ohio")
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert "Paris (answering, last seen just now)" in page and "tokyo (silent, last seen 2" in page
    assert "ohio (no probe has answered yet)" in page
    assert "Run the check from these probe locations; none: any worker runs it." in page
    assert re.search(r'name="quorum"[^>]*placeholder="majority"', page)
    too_many = responder_browser.post(f"/monitors/{monitor.pk}/edit/", new_http(locations=["paris", "tokyo"], quorum=3))
    assert too_many.status_code == 400
    assert (
        "Between 1 and 2 (the number of locations chosen); leave it blank for a majority." in too_many.content.decode()
    )
    saved = responder_browser.post(f"/monitors/{monitor.pk}/edit/", new_http(locations=["paris", "tokyo"], quorum=2))
    assert saved.status_code == 302, saved.content.decode()[:3000]
    monitor.refresh_from_db()
    assert sorted(monitor.locations.values_list("name", flat=True)) == ["paris", "tokyo"] and monitor.quorum == 2
    cleared = responder_browser.post(f"/monitors/{monitor.pk}/edit/", new_http(locations=["ohio"], quorum=""))
    assert cleared.status_code == 302, cleared.content.decode()[:3000]
    monitor.refresh_from_db()
    assert list(monitor.locations.values_list("name", flat=True)) == ["ohio"] and monitor.quorum is None


def test_without_probe_locations_the_form_says_any_worker_runs_the_check(responder_browser):
    page = responder_browser.get("/monitors/new/?kind=tcp").content.decode()
    assert "No probe location is set up yet: any worker runs the check." in page
    refused = responder_browser.post(
        "/monitors/new/",
        {"kind": "tcp", "name": "db", "host": "db.example", "port": 5432, "interval_seconds": 60, "down_after": 2,
         "up_after": 1, "incident_severity": "SEV3", "quorum": 1},
    )  # fmt: skip
    assert 'name="quorum"' not in page  # nothing to count a quorum of
    assert refused.status_code == 302
    assert Monitor.objects.get(name="db").quorum is None


def test_test_now_runs_a_dns_check_with_the_unsaved_values(responder_browser, settings):
    from tests.monitors.test_check_dns import ZONE, DnsServer

    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = DnsServer(ZONE)
    try:
        response = responder_browser.post(
            "/monitors/form/test/",
            {"kind": "dns", "host": "example.test", "dns_record_type": "A", "dns_resolver": server.address,
             "dns_expected": "192.0.2.99", "interval_seconds": 60, "down_after": 2, "up_after": 1,
             "incident_severity": "SEV3"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
    finally:
        server.close()
    page = response.content.decode()
    assert response.status_code == 200
    assert "expected 192.0.2.99 in the A records of example.test; found 192.0.2.10, 192.0.2.11" in page
    assert not Monitor.objects.exists()


def test_the_form_creates_a_monitor_with_its_locations(client, responder):
    client.force_login(responder)
    ProbeLocation.objects.create(name="paris")
    response = client.post(
        "/monitors/new/",
        {"kind": "tcp", "name": "db", "host": "db.example", "port": 5432, "interval_seconds": 60, "down_after": 2,
         "up_after": 1, "incident_severity": "SEV3", "locations": ["paris"]},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(Monitor.objects.get(name="db").locations.values_list("name", flat=True)) == ["paris"]
